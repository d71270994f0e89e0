"""The LR-consistent projection in numpy (the ONNX Runtime backend's): ``srddgan_arch.lr_consistency.project_to_lr``
on arrays, with operators built from the same MATLAB bicubic taps (``bicubic.py``).

y <- y + pinv(D) (x - D(y)) with D(y) = W_h y W_w^T, pinv(W) = W^T (W W^T)^-1; W and W^T are applied tap by tap
(banded), (W W^T)^-1 as a dense LR-sized matrix on short axes and as its band on long ones.
"""
import functools

import numpy as np

from srddgan_runtime.bicubic import DENSE_GRAM_MAX_LENGTH, GRAM_HALF_WIDTH, bicubic_matrix


class _Banded:
    """A banded matrix (out_length, in_length) applied along an axis: ``out[i] = sum_k weights[i, k] *
    x[columns[i, k]]``."""

    def __init__(self, matrix, half_width=None):
        nonzero = matrix != 0
        if half_width is None:  # the band that holds every nonzero entry of each row
            first = nonzero.argmax(axis=1)
            last = matrix.shape[1] - 1 - nonzero[:, ::-1].argmax(axis=1)
            offsets = np.arange(int((last - first).max()) + 1)
        else:
            first = np.arange(len(matrix)) - half_width
            offsets = np.arange(2 * half_width + 1)
        columns = first[:, None] + offsets
        inside = (columns >= 0) & (columns < matrix.shape[1])
        self.columns = np.clip(columns, 0, matrix.shape[1] - 1).T.copy()  # (taps, out_length)
        self.weights = (np.take_along_axis(matrix, self.columns.T, axis=1) * inside).T.astype(np.float32)

    def apply(self, x, axis):
        """The matrix applied to ``x`` along ``axis`` (-2 or -1)."""
        shape = (-1, 1) if axis == -2 else (-1,)
        out = np.take(x, self.columns[0], axis=axis) * self.weights[0].reshape(shape)
        for tap in range(1, len(self.columns)):
            out += np.take(x, self.columns[tap], axis=axis) * self.weights[tap].reshape(shape)
        return out


class _Dense:
    """A small symmetric matrix applied along an axis."""

    def __init__(self, matrix):
        self.matrix = matrix.astype(np.float32)

    def apply(self, x, axis):
        return self.matrix @ x if axis == -2 else x @ self.matrix


@functools.lru_cache(maxsize=32)
def _axis_operators(hr_length, scale):
    """W, W^T and (W W^T)^-1 of one axis."""
    down = bicubic_matrix(hr_length, 1 / scale)
    gram_inv = np.linalg.inv(down @ down.T)
    gram = _Dense(gram_inv) if len(gram_inv) <= DENSE_GRAM_MAX_LENGTH else _Banded(gram_inv, GRAM_HALF_WIDTH)
    return _Banded(down), _Banded(down.T), gram


def bicubic_downscale(img, scale):
    """MATLAB-style antialiased bicubic downscaling by 1 / ``scale`` (BasicSR's ``imresize`` without rounding).

    Args:
        img (ndarray): Images (..., H, W), H and W divisible by ``scale``.
        scale (int): Integer downscaling factor.

    Returns:
        ndarray: float32 (..., H / scale, W / scale).
    """
    down_h = _axis_operators(img.shape[-2], scale)[0]
    down_w = _axis_operators(img.shape[-1], scale)[0]
    return down_w.apply(down_h.apply(img.astype(np.float32, copy=False), -2), -1)


def project_to_lr(img, lq, scale, iterations=1, value_range=(-1., 1.)):
    """Make ``img`` consistent with ``lq``: bicubic_downscale(result, scale) == lq (up to float32 rounding).

    Each iteration projects, then clips to ``value_range``; the last projection is not clipped.

    Args:
        img (ndarray): SR images (B, C, H, W) with H, W = scale * (h, w).
        lq (ndarray): LR images (B, C, h, w), in the same value range as img.
        scale (int): Integer scale of the bicubic downscale.
        iterations (int): Projections (>= 1); clipping between them. Default: 1.
        value_range (tuple[float, float] | None): Valid pixel range, None for no clipping. Default: (-1, 1).

    Returns:
        ndarray: The projected images, float32.
    """
    if img.shape[-2:] != (lq.shape[-2] * scale, lq.shape[-1] * scale) or img.shape[:-2] != lq.shape[:-2]:
        raise ValueError(f'LR consistency: image of shape {tuple(img.shape)} is not a x{scale} upscaling of the LR '
                         f'image of shape {tuple(lq.shape)}.')
    if iterations < 1:
        raise ValueError(f'LR consistency: iterations must be >= 1, got {iterations}.')
    _, up_h, gram_h = _axis_operators(img.shape[-2], scale)
    _, up_w, gram_w = _axis_operators(img.shape[-1], scale)
    y, target = img.astype(np.float32), lq.astype(np.float32, copy=False)
    for index in range(iterations):
        if index and value_range is not None:
            y = np.clip(y, *value_range)
        residual = gram_w.apply(gram_h.apply(target - bicubic_downscale(y, scale), -2), -1)
        y = y + up_w.apply(up_h.apply(residual, -2), -1)
    return y
