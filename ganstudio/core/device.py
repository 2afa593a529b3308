"""Choosing the compute device, precision and thread count once, in one place."""
from __future__ import annotations

import ctypes
import os
import sys
from functools import lru_cache

import torch

from .errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name`` ('auto' prefers CUDA, then Apple MPS, then the CPU)."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ConfigError(f"Invalid device {name!r}. Only {', '.join(DEVICES)} (or cuda:N) are supported.")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; choose 'auto' or 'cpu'.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("Apple MPS was requested but is not available; choose 'auto' or 'cpu'.")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A short human description: the GPU's name, 'Apple GPU (MPS)', 'CPU (1 thread)' or 'CPU (N threads)'."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512_BF16 or AMX), where bf16 pays."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = f.read()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device``, or None for plain fp32.

    'auto' picks bf16 on CUDA GPUs that support it (fp16 otherwise), bf16 on CPUs with native bf16
    instructions (benchmarks/train_throughput.py checks it does not hurt training), fp32 elsewhere.
    """
    if name not in PRECISIONS:
        raise ConfigError(f"Invalid precision {name!r}. Only {', '.join(PRECISIONS)} are supported.")
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        if device.type == "cpu":
            raise ConfigError("fp16 is not supported on the CPU; use bf16 or fp32.")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def default_threads(leave_for_gui: bool = False) -> int:
    """Intra-op threads to use: the usable cores that are free, and at most ``OMP_NUM_THREADS`` when set.

    With ``leave_for_gui`` one core stays for the window (its event loop, chart and previews), and
    cores that other programs keep busy (the 1-minute load average) are not counted: a torch job
    that shares a core with another process slows down several times (measured ~6x on 2 cores),
    while one that keeps off it loses only its share.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    if leave_for_gui:
        try:
            busy = int(os.getloadavg()[0] + 0.5)
        except (AttributeError, OSError):
            busy = 0
        n = min(n - 1, n - busy)
    try:   # the usual way to cap a program's threads on a shared machine is honoured too
        n = min(n, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        pass
    return max(1, n)


def set_threads(n: int) -> int:
    """Apply a thread count (0 = default) to torch and return it."""
    if n < 0:
        raise ConfigError(f"threads must be 0 (all free cores) or more, got {n}.")
    n = n or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: blocks up to this size come from the heap instead of fresh pages of their own (glibc: 128 KB
#: at first, rising with what is freed, to at most 32 MB)
ALLOCATOR_MMAP_THRESHOLD = 64 << 20
#: free memory the heap keeps instead of handing it back (glibc: twice the mmap threshold)
ALLOCATOR_TRIM_THRESHOLD = 256 << 20


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask the C library to keep freed memory for reuse (glibc on Linux; elsewhere nothing happens).

    A training step allocates and frees the same few megabytes every step. With glibc's defaults
    those blocks go back to the system when freed, and the next step's first touch of them costs a
    page fault per 4 KB: ~1,500 faults a step for ``seed-dcgan-16`` at batch 64 on the CPU (0 with
    this; docs/benchmarks.md). The price is memory: up to ``ALLOCATOR_TRIM_THRESHOLD`` of freed heap
    stays with the process, and blocks above ``ALLOCATOR_MMAP_THRESHOLD`` (a large upscale's image)
    still go back at once. Process-wide and not undone; returns whether the C library took it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the mmap threshold first: setting either fixes both, and a fixed 128 KB threshold would be worse
    return bool(mallopt(_M_MMAP_THRESHOLD, ALLOCATOR_MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, ALLOCATOR_TRIM_THRESHOLD))
