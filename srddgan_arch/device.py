"""The device srddgan runs on when none is given (inference, metrics, benchmarks), and how CPU memory is reused."""
import ctypes
import ctypes.util
import re

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


def device_error(device, gpu_id=None):
    """What is wrong with a ``--device`` (cpu, mps, cuda, cuda:N) and a ``-g N`` on this machine, or None.

    Args:
        device (str | None): The device asked for; None: the default.
        gpu_id (int | None): The GPU asked for with ``-g``. Default: None.

    Returns:
        str | None: The one-line message.
    """
    if gpu_id is not None:
        if device not in (None, 'cuda', f'cuda:{gpu_id}'):
            return f'-g {gpu_id} means --device cuda:{gpu_id}, but --device is {device}: give one of them.'
        device = f'cuda:{gpu_id}'
    if device is None:
        return None
    match = re.fullmatch(r'cpu|mps|cuda(?::(\d+))?', device)
    if match is None:
        return f'--device {device}: expected cpu, mps, cuda or cuda:N (N: the number of the GPU).'
    if device == 'mps' and not torch.backends.mps.is_available():
        return '--device mps: Apple MPS is not available here; use --device cpu.'
    if device.startswith('cuda') and not torch.cuda.is_available():
        return f'--device {device}: no usable CUDA device here (torch.cuda.is_available() is false); use --device cpu.'
    if match[1] is not None and int(match[1]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        return f'--device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}.'
    return None


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
