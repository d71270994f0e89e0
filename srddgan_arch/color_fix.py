"""Colour correction of an SR output by its LR input, for samplers without the LR projection.

A sampler that is not projected onto the LR-consistent images can drift in colour and brightness (a degraded input's
noise and JPEG blocks, a model trained on other data). StableSR, OSEDiff and InvSR correct this after sampling: the
output keeps its detail and takes its low frequencies (``wavelet``) or its channel statistics (``adain``) from the LR
upsampled to its size. The LR projection (``lr_consistency``) already ties the output to the LR exactly, so the two
are not combined.
"""
import torch
from torch.nn import functional as F

COLOR_FIXES = ('none', 'wavelet', 'adain')
WAVELET_LEVELS = 5  # the a trous decomposition's levels (StableSR's): the low band keeps structures over ~32 px


def _blur(img, dilation):
    """The a trous (dilated) 3x3 binomial low-pass of every channel, replicate padding."""
    kernel = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]], dtype=img.dtype, device=img.device) / 16
    channels = img.shape[1]
    padded = F.pad(img, (dilation,) * 4, mode='replicate')
    return F.conv2d(padded, kernel.expand(channels, 1, 3, 3), dilation=dilation, groups=channels)


def low_frequencies(img, levels=WAVELET_LEVELS):
    """The low band of an a trous wavelet decomposition: ``levels`` dilated blurs (dilation 1, 2, 4, ...).

    Args:
        img (Tensor): Images (B, C, H, W).
        levels (int): Decomposition levels. Default: ``WAVELET_LEVELS``.

    Returns:
        Tensor: The low band (``img`` minus it is the sum of the high bands).
    """
    for level in range(levels):
        img = _blur(img, 2 ** level)
    return img


def wavelet_color_fix(sr, reference):
    """``sr``'s high frequencies over ``reference``'s low frequencies (same shape)."""
    return sr - low_frequencies(sr) + low_frequencies(reference)


def adain_color_fix(sr, reference, eps=1e-5):
    """``sr`` with each channel's mean and standard deviation taken from ``reference`` (per image)."""
    sr_mean, sr_std = sr.mean(dim=(2, 3), keepdim=True), sr.std(dim=(2, 3), keepdim=True)
    ref_mean, ref_std = reference.mean(dim=(2, 3), keepdim=True), reference.std(dim=(2, 3), keepdim=True)
    return (sr - sr_mean) / (sr_std + eps) * ref_std + ref_mean


def color_fix(sr, lq, method):
    """Correct the colours of SR images by their LR images, upsampled (PyTorch's bicubic) to the SR size.

    Args:
        sr (Tensor): SR images (B, C, H, W) in [0, 1].
        lq (Tensor): Their LR images (B, C, h, w) in [0, 1].
        method (str): One of ``COLOR_FIXES``; 'none' returns ``sr``.

    Returns:
        Tensor: The corrected images, clamped to [0, 1].
    """
    if method not in COLOR_FIXES:
        raise ValueError(f'color_fix must be one of {", ".join(COLOR_FIXES)}, got {method!r}.')
    if method == 'none':
        return sr
    reference = F.interpolate(lq.to(sr), size=sr.shape[2:], mode='bicubic', align_corners=False).clamp(0, 1)
    fixed = wavelet_color_fix(sr, reference) if method == 'wavelet' else adain_color_fix(sr, reference)
    return fixed.clamp(0, 1)
