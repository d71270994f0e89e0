"""LR consistency: the exact projection of SR images onto the set of images whose bicubic downscale is the LR image.

The bicubic configs make the LR with BasicSR's MATLAB-style ``imresize`` (antialiased bicubic), a separable linear map
D = (W_h, W_w): D(y) = W_h y W_w^T per channel. The images consistent with an LR image x form the affine set
{y : D(y) = x}; the orthogonal projection onto it is y + D^+ (x - D(y)) with D^+ = D^T (D D^T)^{-1}, which is
separable too: pinv(W_h) r pinv(W_w)^T. One projection is therefore exact (up to float rounding), with no iteration
(Irani & Peleg's back-projection iterates towards the same set; Bahat & Michaeli 2020 and DDNM (Wang et al. 2023)
enforce it with a known kernel, as here). Alternating it with clipping to the valid range (projections onto convex
sets) keeps the result in range. D's rows sum to 1, so the same matrices serve images in [0, 1] and in [-1, 1].

Pure tensor code, no network: the matrices are built in float64 once per (size, scale, device) and cached.
"""
import functools
import math

import torch

# the downsamplers a sampler can be made consistent with: 'bicubic' is BasicSR's MATLAB imresize of the bicubic configs
DOWNSAMPLERS = ('none', 'bicubic')


def _cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``imresize`` 'bicubic')."""
    absx = x.abs()
    absx2, absx3 = absx**2, absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return near + far


def matlab_bicubic_matrix(in_length, scale, antialiasing=True):
    """The 1-D resize matrix of MATLAB's ``imresize`` (bicubic, symmetric borders), as BasicSR's ``imresize`` applies.

    Args:
        in_length (int): Input length.
        scale (float): Output length / input length (< 1 downscales).
        antialiasing (bool): Widen the kernel by 1 / scale when downscaling. Default: True.

    Returns:
        Tensor: float64 (ceil(in_length * scale), in_length); row i holds the weights of output pixel i.
    """
    out_length = math.ceil(in_length * scale)
    widen = scale < 1 and antialiasing
    kernel_width = 4 / scale if widen else 4
    # output pixel centre in input coordinates (1-based, as MATLAB): 0.5 maps to 0.5
    centre = torch.arange(1, out_length + 1, dtype=torch.float64) / scale + 0.5 * (1 - 1 / scale)
    first = torch.floor(centre - kernel_width / 2)
    indices = first[:, None] + torch.arange(math.ceil(kernel_width) + 2, dtype=torch.float64)
    distance = centre[:, None] - indices
    weights = scale * _cubic(distance * scale) if widen else _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # symmetric extension (the border pixel repeated) of the 0-based indices
    period = indices.long().sub(1).remainder(2 * in_length)
    columns = torch.where(period >= in_length, 2 * in_length - 1 - period, period)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    return matrix.scatter_add_(1, columns, weights)


@functools.lru_cache(maxsize=32)
def _axis_operators(hr_length, scale, device):
    """(W, pinv(W)) of one axis as float32 on ``device``: the downscale matrix and its Moore-Penrose inverse."""
    down = matlab_bicubic_matrix(hr_length, 1 / scale)
    pinv = down.T @ torch.linalg.inv(down @ down.T)
    return down.float().to(device), pinv.float().to(device)


def bicubic_downscale(img, scale):
    """MATLAB-style antialiased bicubic downscaling by 1 / ``scale``, batched and on the image's device.

    Equal to BasicSR's ``imresize(img, 1 / scale)`` (without rounding) for each image.

    Args:
        img (Tensor): Images (..., H, W), H and W divisible by ``scale``.
        scale (int): Integer downscaling factor.

    Returns:
        Tensor: (..., H / scale, W / scale), in img's dtype.
    """
    down_h, _ = _axis_operators(img.shape[-2], scale, img.device)
    down_w, _ = _axis_operators(img.shape[-1], scale, img.device)
    return (down_h @ img.float() @ down_w.T).to(img.dtype)


def bicubic_upscale(lq, scale):
    """MATLAB-style bicubic upscaling by ``scale`` (BasicSR's ``imresize(lq, scale)``, the "bicubic" reference),
    batched and on the image's device.

    Args:
        lq (Tensor): LR images (..., h, w).
        scale (int): Integer upscaling factor.

    Returns:
        Tensor: (..., h * scale, w * scale), in lq's dtype, not clipped.
    """
    up_h = _upscale_matrix(lq.shape[-2], scale, lq.device)
    up_w = _upscale_matrix(lq.shape[-1], scale, lq.device)
    return (up_h @ lq.float() @ up_w.T).to(lq.dtype)


@functools.lru_cache(maxsize=32)
def _upscale_matrix(lr_length, scale, device):
    return matlab_bicubic_matrix(lr_length, scale).float().to(device)


def back_projection(lq, scale, iterations=3, value_range=(0., 1.)):
    """The IBP reference: bicubic upscaling, then :func:`project_to_lr` (the same projection as the sampler's).

    Irani & Peleg's iterative back-projection converges to an LR-consistent image; the exact projection reaches the
    consistent image closest to the bicubic one at once.

    Args:
        lq (Tensor): LR images (B, C, h, w).
        scale (int): Integer scale.
        iterations (int): Projections alternated with clipping (see :func:`project_to_lr`). Default: 3.
        value_range (tuple[float, float]): Valid pixel range of lq. Default: (0, 1).

    Returns:
        Tensor: (B, C, h * scale, w * scale), consistent with lq, clipped to value_range.
    """
    up = bicubic_upscale(lq, scale).clamp(*value_range)
    return project_to_lr(up, lq, scale, iterations, value_range).clamp(*value_range)


def _check_sizes(img, lq, scale):
    if img.shape[-2:] != (lq.shape[-2] * scale, lq.shape[-1] * scale) or img.shape[:-2] != lq.shape[:-2]:
        raise ValueError(f'LR consistency: image of shape {tuple(img.shape)} is not a x{scale} upscaling of the LR '
                         f'image of shape {tuple(lq.shape)}.')


def project_to_lr(img, lq, scale, iterations=1, value_range=(-1., 1.)):
    """Make ``img`` consistent with ``lq``: bicubic_downscale(result, scale) == lq (up to float32 rounding).

    Each iteration applies the orthogonal projection y <- y + pinv(D) (lq - D(y)), then clips y to ``value_range``;
    the last projection is not clipped, so the result is exactly consistent and at most slightly out of range.
    More iterations (alternating projections) bring it closer to an image that is both consistent and in range.

    Args:
        img (Tensor): SR images (B, C, H, W) with H, W = scale * (h, w).
        lq (Tensor): LR images (B, C, h, w), in the same value range as img.
        scale (int): Integer scale of the bicubic downscale.
        iterations (int): Projections (>= 1); clipping between them. Default: 1.
        value_range (tuple[float, float] | None): Valid pixel range, None for no clipping. Default: (-1, 1).

    Returns:
        Tensor: The projected images, shaped and typed like img.
    """
    _check_sizes(img, lq, scale)
    if iterations < 1:
        raise ValueError(f'LR consistency: iterations must be >= 1, got {iterations}.')
    down_h, pinv_h = _axis_operators(img.shape[-2], scale, img.device)
    down_w, pinv_w = _axis_operators(img.shape[-1], scale, img.device)
    y, target = img.float(), lq.float()
    for index in range(iterations):
        if index and value_range is not None:
            y = y.clamp(*value_range)
        y = y + pinv_h @ (target - down_h @ y @ down_w.T) @ pinv_w.T
    return y.to(img.dtype)


def lr_projector(downsampler, scale, iterations=3):
    """The ``project`` argument of :func:`srddgan_arch.diffusion.sample` for a downsampler name.

    Args:
        downsampler (str): 'bicubic' (:func:`project_to_lr`) or 'none'.
        scale (int): Integer SR scale.
        iterations (int): Projections alternated with clipping to [-1, 1]. Default: 3.

    Returns:
        callable | None: ``project(y0, lq) -> y0`` in [-1, 1], or None for 'none'.
    """
    if downsampler not in DOWNSAMPLERS:
        raise ValueError(f'LR consistency: downsampler must be one of {", ".join(DOWNSAMPLERS)}, got {downsampler!r}.')
    if downsampler == 'none':
        return None
    return functools.partial(project_to_lr, scale=scale, iterations=iterations)
