"""The device srddgan runs on when none is given (inference, metrics, benchmarks), and how CPU memory is reused."""
import ctypes
import ctypes.util

import torch

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def default_device():
    """cuda, else mps, else cpu: the best device this machine has."""
    if torch.cuda.is_available():
        return 'cuda'
    if getattr(torch.backends, 'mps', None) is not None and torch.backends.mps.is_available():
        return 'mps'
    return 'cpu'


def keep_freed_memory():
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the system (no-op elsewhere).

    Eager PyTorch allocates a new tensor for almost every operation. glibc serves blocks over 32 MB with mmap and
    unmaps them when freed, and trims the heap when much of its top is free, so each new large tensor faults its
    pages in again, zero-filled by the kernel: on CPU that made the per-pixel cost of a sample grow 1.5x from 128 to
    1024 px outputs. Without mmap and trimming the process keeps its peak memory and reuses it. A process-wide
    setting, for command-line programs (``srddgan-infer``, the speed benchmark).

    Returns:
        bool: True when glibc accepted the settings.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library('c')).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
