"""The memory an image needs, estimated before any of its pixels is processed, and the guard that refuses an image
that does not fit, naming the number and the ``--tile`` that would fit.

The network's share is measured by running the upsampler on the meta device (shapes only: no memory, no arithmetic)
for the LR block it processes at once (the whole image, or one tile with its context), counting the bytes of the
tensors alive at once; one diffusion step is enough, the T steps reuse the same memory. The result's share on the host
is ``HOST_BYTES_PER_HR_PIXEL`` per output pixel, plus the final LR projection's matrices and temporaries when the
upsampler is LR-consistent.
"""
import copy
import itertools
import math
import weakref
from os import path as osp

import psutil
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from srddgan_arch.diffusion import DiffusionSchedule

GIB = 2**30
# host bytes per output pixel: the float32 result, the tiles' blend weights, numpy copies and write_image's
# temporaries; measured: 38 (1024x1024 LR -> 4096x4096, tiled, 8-bit), alpha and 16-bit results add copies
HOST_BYTES_PER_HR_PIXEL = 64
# the final LR projection of the whole output (lr_consistency) on the host: while its operators are built, the float64
# downscale matrix and Gram inverse of each axis, 10 bytes per (LR x HR) entry, then HR temporaries; measured: 666 MiB
# for 1024x1024 -> 4096x4096, 64 MiB of them matrices, 37.6 bytes per output pixel
LR_PROJECTION_BYTES_PER_HR_PIXEL = 40
LR_PROJECTION_BYTES_PER_MATRIX_ENTRY = 10
# measured peak RSS growth over the tensors' bytes (allocator, convolution workspaces): 1.8 for the paper generator
# on an 84x84 LR block, 1.25 for the demo generator on 128x128
NETWORK_OVERHEAD = 2
# LR block sizes are estimated in steps of this many pixels (rounded up)
BLOCK_STEP = 32
# tile sizes the guard proposes, largest first
TILE_CHOICES = (512, 384, 256, 192, 128, 96, 64, 48, 32)


class ImageTooLargeError(MemoryError):
    """An image whose estimated memory need exceeds what is available."""


class PeakMemory(TorchDispatchMode):
    """Counts the bytes of the tensors alive at once while active (views and in-place results are no new memory).

    Attributes:
        peak (int): The most bytes alive at once.
    """

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(result.alias_info is not None for result in func._schema.returns):
            return out
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                nbytes = tensor.untyped_storage().nbytes()
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(tensor, self._free, nbytes)
        return out

    def _free(self, nbytes):
        self.live -= nbytes


def _on_meta(net):
    """A copy of ``net`` whose parameters and buffers are meta tensors (the weights are not copied)."""
    memo = {}
    for tensor in itertools.chain(net.parameters(), net.buffers()):
        meta = torch.empty_like(tensor, device='meta')
        memo[id(tensor)] = torch.nn.Parameter(meta, tensor.requires_grad) if isinstance(
            tensor, torch.nn.Parameter) else meta
    return copy.deepcopy(net, memo)


def on_meta(upsampler):
    """A copy of ``upsampler`` on the meta device, in float32, sampling one diffusion step.

    Args:
        upsampler (SRDDGANer): The upsampler.

    Returns:
        SRDDGANer: The copy (the weights are not copied).
    """
    meta = copy.copy(upsampler)
    meta.net = meta.model = _on_meta(upsampler.net)
    meta.device, meta.precision = torch.device('meta'), 'fp32'
    meta.schedule = DiffusionSchedule(num_timesteps=1).to('meta') if upsampler.diffusion else None
    meta.project = None  # the projection builds its matrices on the CPU: estimated apart (MemoryGuard.need)
    return meta


def network_bytes(meta, lr_height, lr_width):
    """Memory an upsampler needs for one LR block: the peak bytes of the tensors alive at once, times
    ``NETWORK_OVERHEAD``.

    Args:
        meta (SRDDGANer): The upsampler on the meta device (:func:`on_meta`).
        lr_height (int): Block height in LR pixels.
        lr_width (int): Block width in LR pixels.

    Returns:
        int | None: The bytes; None when the network does not run on the meta device.
    """
    try:
        with PeakMemory() as tracker:
            lq = torch.empty(1, 3, lr_height, lr_width, device='meta')
            z = torch.empty(1, meta.net.z_dim, device='meta') if meta.diffusion else None
            meta._run(lq, z, None)
    except (NotImplementedError, RuntimeError):  # an operator without a meta kernel
        return None
    return tracker.peak * NETWORK_OVERHEAD


def available_bytes(device):
    """Free memory where the network runs and on the host: (device bytes, host bytes); the same on CPU and MPS.

    The host's is psutil's ``available`` (Linux's MemAvailable, and its equivalent on macOS and Windows): what can be
    allocated without swapping.
    """
    host = psutil.virtual_memory().available
    if device.type == 'cuda':
        return torch.cuda.mem_get_info(device)[0], host
    return host, host


class MemoryGuard:
    """Refuses images whose estimated memory need exceeds the free memory (or ``max_memory``).

    Args:
        upsampler (SRDDGANer): The upsampler that will process the images.
        max_memory (float | None): Memory budget in GiB, for the device and the host alike. Default: None (what is
            free when the guard is built).
    """

    def __init__(self, upsampler, max_memory=None):
        self.upsampler, self.meta = upsampler, on_meta(upsampler)
        self.cuda = upsampler.device.type == 'cuda'
        if max_memory is None:
            self.device_budget, self.host_budget = available_bytes(upsampler.device)
        else:
            self.device_budget = self.host_budget = int(max_memory * GIB)
        self._network = {}

    def _block_bytes(self, height, width, tile):
        """Network bytes for an LR image processed with ``tile`` (0: whole), cached per block size (rounded up to
        ``BLOCK_STEP``: a folder of images of many sizes needs a few estimates, not one each)."""
        pad, multiple = self.upsampler.tile_pad, math.lcm(self.upsampler.lr_multiple, BLOCK_STEP)
        if tile > 0 and (height > tile or width > tile):
            height, width = min(height, tile + 2 * pad), min(width, tile + 2 * pad)
        block = (math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple)
        if block not in self._network:
            self._network[block] = network_bytes(self.meta, *block)
        return self._network[block]

    def need(self, height, width, tile, outscale=None):
        """Estimated (network, host) bytes of super-resolving an LR image of ``height`` x ``width``.

        Args:
            height (int): LR height.
            width (int): LR width.
            tile (int): Tile size in LR pixels, 0 for none.
            outscale (float | None): Final scale. Default: None (the network's).

        Returns:
            tuple[int | None, int]: Network bytes (None when unknown) and host bytes of the result.
        """
        scale = self.upsampler.scale
        host = HOST_BYTES_PER_HR_PIXEL * height * width * max(scale, outscale or 0)**2
        if self.upsampler.project is not None:
            host += (LR_PROJECTION_BYTES_PER_HR_PIXEL * height * width * scale**2
                     + LR_PROJECTION_BYTES_PER_MATRIX_ENTRY * (height**2 + width**2) * scale)
        return self._block_bytes(height, width, tile), int(host)

    def _fits(self, network, host):
        network = network or 0
        if self.cuda:
            return network <= self.device_budget and host <= self.host_budget
        return network + host <= self.host_budget

    def check_file(self, path):
        """Raise :class:`ImageTooLargeError` when the file alone is larger than the free memory it is read into
        (checked before a byte of it is read).

        Args:
            path (str): The input file.
        """
        size = osp.getsize(path) if osp.isfile(path) else 0
        if size > self.host_budget:
            raise ImageTooLargeError(f'{path} is a file of {size / GIB:.1f} GiB, more than the '
                                     f'{self.host_budget / GIB:.1f} GiB free to read it into.')

    def check(self, name, height, width, outscale=None):
        """Raise :class:`ImageTooLargeError` when an LR image does not fit, with the estimate and the ``--tile`` that
        would fit, else what would help (``_advice``).

        Args:
            name (str): The image, for the message.
            height (int): LR height.
            width (int): LR width.
            outscale (float | None): Final scale. Default: None (the network's).
        """
        tile = self.upsampler.tile
        network, host = self.need(height, width, tile, outscale)
        if self._fits(network, host):
            return
        where = 'on the GPU' if self.cuda else 'in all'
        budget = self.device_budget if self.cuda and (network or 0) > self.device_budget else self.host_budget
        text = (f'{name} ({width}x{height}) needs about {((network or 0) + host) / GIB:.1f} GiB (network '
                f'{(network or 0) / GIB:.1f} GiB, result {host / GIB:.1f} GiB), more than the {budget / GIB:.1f} GiB '
                f'free {where}')
        choices = [t for t in TILE_CHOICES if (tile == 0 or t < tile) and t < max(height, width)]
        fitting = next((t for t in choices if self._fits(*self.need(height, width, t, outscale))), None)
        if fitting is not None:
            raise ImageTooLargeError(f'{text}: use --tile {fitting} (or --max_memory to allow more).')
        raise ImageTooLargeError(f'{text}; {self._advice(height, width, tile, outscale)}.')

    def _advice(self, height, width, tile, outscale):
        """What makes an image fit that no tile size fits: more memory (``--max_memory``), a smaller ``-s`` only
        when it is above the model's scale (the result is made at the larger of the two), a smaller image."""
        smallest = min(t for t in (tile, TILE_CHOICES[-1]) if t > 0)
        network, host = self.need(height, width, smallest, outscale)
        least = ((network or 0) + host) / GIB
        scale = self.upsampler.scale
        lower = f'-s {scale:g} or less (the result is made at -s {outscale:g}), ' if (outscale or 0) > scale else ''
        return (f'even with --tile {smallest} it needs about {least:.1f} GiB: give --max_memory {math.ceil(least)} '
                f'if that much memory is free, {lower}or super-resolve a smaller image (crop or split it)')
