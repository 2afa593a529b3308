import os

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
