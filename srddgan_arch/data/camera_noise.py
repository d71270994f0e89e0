"""Camera sensor noise after Brooks et al. 2019, "Unprocessing images for learned raw denoising" (CVPR).

An sRGB image is unprocessed into the linear raw values a sensor measured: inverse tone curve, inverse gamma (2.2),
inverse colour correction (a random convex combination of four cameras' XYZ -> camera matrices, the calibration data
Brooks et al. use), inverse white balance (red and blue gains), RGGB Bayer mosaic. The sensor's noise is added there:
at raw intensity x it has variance ``shot * x + read`` (Poisson shot noise and Gaussian read noise in Brooks et al.'s
heteroscedastic Gaussian form), with log(shot) uniform in a range and log(read) = slope * log(shot) + intercept + a
Gaussian jitter. The raw image is then processed back: white balance, bilinear demosaic, colour correction, gamma,
tone curve. Without noise the round trip gives the image back, up to the demosaic's interpolation of fine detail.
Brooks et al.'s brightness gain is left out, so that the processed image keeps the input's exposure.

Batched tensor code on the image's device; the camera of each image is drawn with numpy's global generator (as the
other stages of ``degradations.py``), the noise with torch's.
"""
import math
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

# XYZ -> camera colour matrices of four cameras (Brooks et al. draw random convex combinations of them)
XYZ_TO_CAMERAS = np.array([
    [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
    [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
    [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
    [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
])
# linear sRGB (D65) -> XYZ
RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])
GAMMA = 2.2
# bilinear demosaic: red/blue sites lie on a 2x2 lattice, green sites on a quincunx
_RED_BLUE_KERNEL = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 4
_GREEN_KERNEL = torch.tensor([[0., 1., 0.], [1., 4., 1.], [0., 1., 0.]]) / 4


class Camera(NamedTuple):
    """One camera per image of a batch.

    Args:
        rgb_to_cam (Tensor): (b, 3, 3) colour matrices, linear sRGB -> camera RGB, rows summing to 1.
        gains (Tensor): (b, 3) white-balance gains (red, 1, blue).
        shot (Tensor): (b,) shot-noise factor.
        read (Tensor): (b,) read-noise variance.
    """

    rgb_to_cam: torch.Tensor
    gains: torch.Tensor
    shot: torch.Tensor
    read: torch.Tensor


def sample_cameras(batch, shot_range, read_fit, red_gain, blue_gain, device=None):
    """Draw a camera per image (numpy's global generator).

    Args:
        batch (int): Number of images.
        shot_range (tuple[float, float]): Range of the shot-noise factor, drawn log-uniformly.
        read_fit (tuple[float, float, float]): Slope, intercept and standard deviation of log(read) given log(shot).
        red_gain (tuple[float, float]): Range of the red white-balance gain.
        blue_gain (tuple[float, float]): Range of the blue white-balance gain.
        device (torch.device | None): Device of the tensors. Default: None (CPU).

    Returns:
        Camera: The cameras.
    """
    weights = np.random.uniform(1e-8, 1e8, (batch, len(XYZ_TO_CAMERAS), 1, 1))
    xyz_to_cam = (weights * XYZ_TO_CAMERAS).sum(1) / weights.sum(1)
    rgb_to_cam = xyz_to_cam @ RGB_TO_XYZ
    rgb_to_cam /= rgb_to_cam.sum(axis=2, keepdims=True)  # white stays white
    gains = np.stack([np.random.uniform(*red_gain, batch), np.ones(batch), np.random.uniform(*blue_gain, batch)], 1)
    log_shot = np.random.uniform(math.log(shot_range[0]), math.log(shot_range[1]), batch)
    slope, intercept, jitter = read_fit
    log_read = slope * log_shot + intercept + np.random.normal(0, jitter, batch)

    def tensor(array):
        return torch.as_tensor(array, dtype=torch.float32, device=device)
    return Camera(tensor(rgb_to_cam), tensor(gains), tensor(np.exp(log_shot)), tensor(np.exp(log_read)))


def bayer_masks(height, width, device=None):
    """(3, h, w) masks of the red, green and blue sites of an RGGB mosaic."""
    rows = torch.arange(height, device=device)[:, None] % 2
    cols = torch.arange(width, device=device)[None, :] % 2
    return torch.stack([(rows == 0) & (cols == 0), rows != cols, (rows == 1) & (cols == 1)]).float()


def _apply_matrices(img, matrices):
    """Per-image 3x3 colour matrices on a (b, 3, h, w) batch."""
    return torch.einsum('bij,bjhw->bihw', matrices, img)


def unprocess(img, camera):
    """sRGB (b, 3, h, w) in [0, 1] -> raw mosaic (b, 1, h, w) in [0, 1]: inverse tone curve, gamma, colour
    correction, white balance, RGGB mosaic."""
    linear = (0.5 - torch.sin(torch.asin(1 - 2 * img.clamp(0, 1)) / 3)).clamp_min(1e-8) ** GAMMA
    cam = _apply_matrices(linear, camera.rgb_to_cam) / camera.gains[:, :, None, None]
    return (cam * bayer_masks(*img.shape[-2:], img.device)).sum(1, keepdim=True)


def add_sensor_noise(raw, shot, read):
    """Heteroscedastic sensor noise: raw + N(0, shot * raw + read), clipped to [0, 1].

    Args:
        raw (Tensor): (b, 1, h, w) raw intensities in [0, 1].
        shot (Tensor): (b,) shot-noise factors.
        read (Tensor): (b,) read-noise variances.

    Returns:
        Tensor: The noisy raw images.
    """
    variance = shot[:, None, None, None] * raw + read[:, None, None, None]
    return (raw + torch.randn_like(raw) * variance.sqrt()).clamp(0, 1)


def process(raw, camera):
    """Raw mosaic (b, 1, h, w) -> sRGB (b, 3, h, w) in [0, 1]: white balance, bilinear demosaic, colour correction,
    gamma, tone curve (the inverse of ``unprocess``)."""
    masks = bayer_masks(*raw.shape[-2:], raw.device)
    sparse = F.pad(raw * masks * camera.gains[:, :, None, None], (1, 1, 1, 1), mode='reflect')
    kernels = torch.stack([_RED_BLUE_KERNEL, _GREEN_KERNEL, _RED_BLUE_KERNEL])[:, None].to(raw)
    cam = F.conv2d(sparse, kernels, groups=3)
    linear = _apply_matrices(cam, torch.linalg.inv(camera.rgb_to_cam)).clamp(1e-8, 1)
    gamma = linear ** (1 / GAMMA)
    return (3 * gamma**2 - 2 * gamma**3).clamp(0, 1)


def add_camera_noise_pt(img, shot_range, read_fit, red_gain, blue_gain):
    """Camera sensor noise on an sRGB batch: unprocess, sensor noise, process, one random camera per image.

    Args:
        img (Tensor): RGB batch (b, 3, h, w) in [0, 1], any device.
        shot_range, read_fit, red_gain, blue_gain: See :func:`sample_cameras`.

    Returns:
        Tensor: The noisy batch, in [0, 1].
    """
    camera = sample_cameras(img.size(0), shot_range, read_fit, red_gain, blue_gain, img.device)
    return process(add_sensor_noise(unprocess(img, camera), camera.shot, camera.read), camera)
