import os
import platform
import subprocess
import sys

import pytest
import torch

from ganstudio.core import device
from ganstudio.core.errors import ConfigError


@pytest.mark.parametrize("cores,load,expected", [(8, 0.0, 7), (8, 3.2, 5), (2, 0.1, 1), (2, 1.9, 1), (1, 0.0, 1)])
def test_gui_threads_leave_a_core_and_skip_busy_ones(monkeypatch, cores, load, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert device.default_threads(leave_for_gui=True) == expected
    assert device.default_threads() == cores


def test_omp_num_threads_caps_the_default(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert device.default_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert device.default_threads() == 8


def test_device_and_precision_choices():
    assert device.resolve_device("cpu").type == "cpu"
    with pytest.raises(ConfigError, match="Only"):
        device.resolve_device("tpu")
    assert device.resolve_precision("fp32", torch.device("cpu")) is None
    assert device.resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        device.resolve_precision("fp16", torch.device("cpu"))
    expected = torch.bfloat16 if device.cpu_has_fast_bf16() else None
    assert device.resolve_precision("auto", torch.device("cpu")) == expected
    assert "thread" in device.describe_device(torch.device("cpu"))


_KEPT_SCRIPT = """
import os, sys
import numpy as np
if sys.argv[1] == "keep":
    from ganstudio.core.device import keep_freed_memory
    assert keep_freed_memory()
def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = resident()
block = np.ones(40 << 20, np.uint8)     # above glibc's largest automatic mmap threshold (32 MB)
del block
print((resident() - before) >> 20)      # MB of the freed block still held for the next one
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the allocator setting is for glibc")
def test_freed_memory_is_kept_for_reuse_instead_of_returned_and_faulted_in_again():
    def kept_mb(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _KEPT_SCRIPT, mode], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    assert kept_mb("default") < 8          # glibc returns the block's pages to the system at once
    assert kept_mb("keep") >= 36           # kept: the next step's block reuses them, no page faults
