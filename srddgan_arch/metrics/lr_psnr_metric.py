"""LR-PSNR (SRFlow, Lugmayr et al. 2020): consistency of a super-resolved image with its low-resolution input."""
import numpy as np
from basicsr.metrics import calculate_psnr
from basicsr.utils.matlab_functions import imresize
from basicsr.utils.registry import METRIC_REGISTRY


def integer_scale(img, lq):
    """The integer factor s with img of size s·(lq size), in both height and width.

    Args:
        img (ndarray): High-resolution image, (H, W, C).
        lq (ndarray): Low-resolution image, (h, w, C).

    Returns:
        int: s.

    Raises:
        ValueError: The sizes are not an integer multiple of each other, or differ between height and width.
    """
    (h, w), (lh, lw) = img.shape[:2], lq.shape[:2]
    if h % lh or w % lw or h // lh != w // lw or img.shape[2:] != lq.shape[2:]:
        raise ValueError(f'LR-PSNR: image of shape {img.shape} is not an integer upscaling (same factor in height and '
                         f'width, same channels) of the LR image of shape {lq.shape}.')
    return h // lh


def downscale_uint8(img, scale):
    """MATLAB-style antialiased bicubic downscaling by 1/scale (BasicSR's ``imresize``), rounded to uint8.

    Args:
        img (ndarray): uint8 image, (H, W, C).
        scale (int): Downscaling factor.

    Returns:
        ndarray: uint8 image, (H/scale, W/scale, C).
    """
    small = imresize(img.astype(np.float32) / 255., 1 / scale, antialiasing=True)
    return np.clip(np.round(small * 255.), 0, 255).astype(np.uint8)


@METRIC_REGISTRY.register()
def calculate_lr_psnr(img, lq, crop_border=0, test_y_channel=False, **kwargs):
    """LR-PSNR: PSNR between the SR image downscaled by 1/s (MATLAB bicubic, uint8) and the LR input.

    Args:
        img (ndarray): Super-resolved image, uint8, (H, W, C), BGR or RGB.
        lq (ndarray): Low-resolution input, uint8, (H/s, W/s, C), same channel order as ``img``.
        crop_border (int): Pixels cropped at each edge of the LR-sized images. Default: 0.
        test_y_channel (bool): PSNR on the Y channel of YCbCr (BGR inputs). Default: False.
        kwargs: Other metric data and options (e.g. ``img2``, ``better``), ignored.

    Returns:
        float: LR-PSNR in dB (inf where the downscaled image equals the LR one).
    """
    scale = integer_scale(img, lq)
    return calculate_psnr(downscale_uint8(img, scale), lq, crop_border, test_y_channel=test_y_channel)
