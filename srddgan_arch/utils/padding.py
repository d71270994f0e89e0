"""Padding LR images to the multiple a network needs, so that images of any size can be super-resolved and scored.

``SRDDGANer`` (srddgan-infer) and the models' ``test()`` (srddgan-test) pad the same way: replicate the last row and
column up to the multiple, run the network, crop the output to ``scale`` x the unpadded size.
"""
import math

import torch.nn.functional as F
from basicsr.archs.rrdbnet_arch import RRDBNet


def lr_multiple(net, scale, window_size=None):
    """The multiple an LR input of ``net`` must have on each side.

    Args:
        net (nn.Module): The bare network: an SRDDGAN U-Net (its ``divisor`` is the HR multiple its levels need),
            BasicSR's RRDBNet (x2 and x1 pixel-unshuffle the LR by 2 and 4) or any other one-shot network.
        scale (int): The SR scale.
        window_size (int | None): The attention window of a windowed network (SwinIR's ``window_size`` option).
            Default: None.

    Returns:
        int: The LR multiple (1: any size).
    """
    divisor = getattr(net, 'divisor', 1)
    multiple = divisor // math.gcd(divisor, scale)
    if isinstance(net, RRDBNet) and net.scale in (1, 2):
        multiple = math.lcm(multiple, 4 // net.scale)
    return math.lcm(multiple, window_size or 1)


def pad_lr(lq, multiple):
    """Pad LR images (B, C, h, w) by replicating their last row and column up to ``multiple``.

    Args:
        lq (Tensor): LR images.
        multiple (int): The multiple.

    Returns:
        Tensor: The padded images (``lq`` itself when it fits).
    """
    pad_h, pad_w = (-lq.shape[-2]) % multiple, (-lq.shape[-1]) % multiple
    return F.pad(lq, (0, pad_w, 0, pad_h), mode='replicate') if pad_h or pad_w else lq
