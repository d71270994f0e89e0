"""The default device and CPU memory reuse (device.py)."""
import ctypes
import platform

import pytest
import torch

from srddgan_arch.device import default_device, keep_freed_memory


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc >= 2.33)."""
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def test_default_device_is_available():
    """The default device is one torch can allocate on."""
    assert torch.zeros(1, device=default_device()).device.type == default_device()


LIBC, LIBC_VERSION = platform.libc_ver()


@pytest.mark.skipif(LIBC != 'glibc' or tuple(map(int, LIBC_VERSION.split('.'))) < (2, 33), reason='glibc mallinfo2')
def test_keep_freed_memory_keeps_large_blocks_in_the_heap():
    """After keep_freed_memory a 64 MB tensor comes from the heap, not from a mapping of its own (which glibc unmaps
    on free, so that the next one faults its pages in again), and freeing it does not shrink the heap."""
    mallinfo2 = ctypes.CDLL('libc.so.6').mallinfo2
    mallinfo2.restype = MallInfo2
    assert keep_freed_memory()
    mapped_before = mallinfo2().hblkhd
    tensor = torch.ones(16 * 2**20)
    heap_with_tensor = mallinfo2().arena
    assert mallinfo2().hblkhd == mapped_before and heap_with_tensor >= tensor.numel() * 4
    del tensor
    assert mallinfo2().arena == heap_with_tensor
