"""Relative sharpness: how much fine detail an SR image has, measured against its HR image without a network."""
import cv2
import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY


def laplacian_variance(img, crop_border=0):
    """Variance of the Laplacian of the grayscale image: high for fine detail and edges, low for blur.

    Args:
        img (ndarray): Image (H, W) or (H, W, 3) BGR, uint8 or float.
        crop_border (int): Pixels cut from each border first. Default: 0.

    Returns:
        float: The variance.
    """
    gray = img if img.ndim == 2 else cv2.cvtColor(img.astype(np.float32), cv2.COLOR_BGR2GRAY)
    if crop_border:
        gray = gray[crop_border:-crop_border, crop_border:-crop_border]
    return float(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F).var())


@METRIC_REGISTRY.register()
def calculate_sharpness(img, img2, crop_border=0, **kwargs):
    """Sharpness of an SR image relative to its HR image: the variance of the Laplacian of ``img`` over that of
    ``img2`` (1: as much fine detail as the HR; blurred images score below 1, noisy or over-sharpened ones above).

    Args:
        img (ndarray): SR image (H, W, C), BGR, 0-255.
        img2 (ndarray): HR image, same shape and scale.
        crop_border (int): Pixels cut from each border. Default: 0.
        kwargs: Other metric data and options (e.g. ``lq``), ignored.

    Returns:
        float: The ratio.
    """
    if img.shape != img2.shape:
        raise ValueError(f'Sharpness: image shapes differ: {img.shape} and {img2.shape}.')
    reference = laplacian_variance(img2, crop_border)
    if reference == 0:
        raise ValueError('Sharpness: the HR image is flat (its Laplacian variance is 0).')
    return laplacian_variance(img, crop_border) / reference
