"""MATLAB's bicubic ``imresize`` along one axis as taps (numpy, float64): the one definition that the LR-consistent
projection of both backends builds its operators from (``srddgan_arch.lr_consistency`` for torch,
``srddgan_runtime.projection`` for numpy)."""
import math

import numpy as np

# (D D^T)^-1 of MATLAB's antialiased bicubic is well conditioned (condition number 2.05-2.12 from x2 to x8): its
# entries fall below 1e-10 of the diagonal beyond 21 LR pixels from it, so its band of half width 24 is the matrix to
# float32 precision. A dense product is cheaper up to this length.
GRAM_HALF_WIDTH = 24
DENSE_GRAM_MAX_LENGTH = 128


def cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``imresize`` 'bicubic')."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return near + far


def bicubic_taps(in_length, scale, antialiasing=True):
    """The taps of MATLAB's 1-D ``imresize`` (bicubic, symmetric borders): output pixel i is
    ``sum_k weights[i, k] * input[columns[i, k]]``.

    Args:
        in_length (int): Input length.
        scale (float): Output length / input length (< 1 downscales).
        antialiasing (bool): Widen the kernel by 1 / scale when downscaling. Default: True.

    Returns:
        tuple[ndarray, ndarray]: columns (int64) and weights (float64), both (ceil(in_length * scale), taps).
    """
    out_length = math.ceil(in_length * scale)
    widen = scale < 1 and antialiasing
    kernel_width = 4 / scale if widen else 4
    # output pixel centre in input coordinates (1-based, as MATLAB): 0.5 maps to 0.5
    centre = np.arange(1, out_length + 1, dtype=np.float64) / scale + 0.5 * (1 - 1 / scale)
    first = np.floor(centre - kernel_width / 2)
    indices = first[:, None] + np.arange(math.ceil(kernel_width) + 2, dtype=np.float64)
    distance = centre[:, None] - indices
    weights = scale * cubic(distance * scale) if widen else cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # symmetric extension (the border pixel repeated) of the 0-based indices
    period = np.remainder(indices.astype(np.int64) - 1, 2 * in_length)
    columns = np.where(period >= in_length, 2 * in_length - 1 - period, period)
    return columns, weights


def bicubic_matrix(in_length, scale, antialiasing=True):
    """The 1-D resize matrix of MATLAB's ``imresize`` (bicubic, symmetric borders), as BasicSR's ``imresize`` applies.

    Args:
        in_length (int): Input length.
        scale (float): Output length / input length (< 1 downscales).
        antialiasing (bool): Widen the kernel by 1 / scale when downscaling. Default: True.

    Returns:
        ndarray: float64 (ceil(in_length * scale), in_length); row i holds the weights of output pixel i.
    """
    columns, weights = bicubic_taps(in_length, scale, antialiasing)
    matrix = np.zeros((len(columns), in_length), dtype=np.float64)
    np.add.at(matrix, (np.arange(len(columns))[:, None], columns), weights)
    return matrix
