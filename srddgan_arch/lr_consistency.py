"""LR consistency: the exact projection of SR images onto the set of images whose bicubic downscale is the LR image.

The bicubic configs make the LR with BasicSR's MATLAB-style ``imresize`` (antialiased bicubic), a separable linear map
D = (W_h, W_w): D(y) = W_h y W_w^T per channel. The images consistent with an LR image x form the affine set
{y : D(y) = x}; the orthogonal projection onto it is y + D^+ (x - D(y)) with D^+ = D^T (D D^T)^{-1}, which is
separable too: pinv(W_h) r pinv(W_w)^T. One projection is therefore exact (up to float rounding), with no iteration
(Irani & Peleg's back-projection iterates towards the same set; Bahat & Michaeli 2020 and DDNM (Wang et al. 2023)
enforce it with a known kernel, as here). Alternating it with clipping to the valid range (projections onto convex
sets) keeps the result in range. D's rows sum to 1, so the same matrices serve images in [0, 1] and in [-1, 1].

Pure tensor code, no network. D is applied as a dense matrix product along axes up to
``DENSE_DOWNSCALE_MAX_LENGTH`` HR pixels and tap by tap beyond (18 taps at x4: a cost linear in pixels), and D^+ as
D^T (D D^T)^{-1}, the inverse Gram matrices of the LR axes built in float64 once per (size, scale, device), cached,
and applied as dense LR-sized matrices (short axes) or as their band (long ones, exact to float32 precision).
"""
import contextlib
import functools

import torch

from srddgan_arch.options.schema import Section, option, section
from srddgan_runtime.bicubic import DENSE_GRAM_MAX_LENGTH, GRAM_HALF_WIDTH, bicubic_matrix, bicubic_taps

# the downsamplers a sampler can be made consistent with: 'bicubic' is BasicSR's MATLAB imresize of the bicubic configs
DOWNSAMPLERS = ('none', 'bicubic')
# HR axes up to this length are downscaled by a dense matrix product, faster than the taps' gathers there (one
# projection on 2 cores: 2.0 -> 0.1 ms at 128x128 px, 65 -> 30 ms at 1024x1024); longer axes tap by tap
DENSE_DOWNSCALE_MAX_LENGTH = 1024


@contextlib.contextmanager
def highest_matmul_precision():
    """fp32 matrix products in full fp32 (IEEE) inside, whatever the caller set (TF32 on CUDA, bf16 in oneDNN on the
    CPU, through ``torch.set_float32_matmul_precision`` or the ``fp32_precision`` settings): with TF32 the projection
    would miss the LR image by ~1e-3. The caller's settings are restored on exit. The kernels read the per-backend
    ``fp32_precision`` settings set here (``torch.get_float32_matmul_precision()`` may refuse to answer inside, when
    the caller used the legacy API)."""
    backends = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    previous = [backend.fp32_precision for backend in backends]
    try:
        for backend in backends:
            backend.fp32_precision = 'ieee'
        yield
    finally:
        for backend, precision in zip(backends, previous, strict=True):
            backend.fp32_precision = precision


def matlab_bicubic_matrix(in_length, scale, antialiasing=True):
    """:func:`srddgan_runtime.bicubic.bicubic_matrix` (MATLAB's 1-D bicubic ``imresize``) as a float64 tensor."""
    return torch.from_numpy(bicubic_matrix(in_length, scale, antialiasing))


class _BandedAxis:
    """A banded linear map along one image axis, applied tap by tap: output i is ``sum_k weights[i, k] *
    input[columns[i, k]]``, a cost linear in pixels (a dense matrix costs the length of the axis per pixel: seconds
    instead of milliseconds for one projection of a 1024x1024 output)."""

    def __init__(self, columns, weights, in_length, device):
        self.in_length = in_length
        self.columns = columns.T.contiguous().to(device)  # (taps, out_length)
        self.weights = weights.T.float().contiguous().to(device)

    @classmethod
    def bicubic(cls, in_length, scale, device):
        """MATLAB's bicubic resize of an axis of ``in_length`` pixels by ``scale`` (antialiased when < 1)."""
        columns, weights = bicubic_taps(in_length, scale)
        return cls(torch.from_numpy(columns), torch.from_numpy(weights), in_length, device)

    @classmethod
    def band_of(cls, matrix, half_width, device):
        """The band |i - j| <= half_width of a square matrix (the rest taken as zero)."""
        length = len(matrix)
        columns = torch.arange(length)[:, None] + torch.arange(-half_width, half_width + 1)
        inside = (columns >= 0) & (columns < length)
        columns = columns.clamp(0, length - 1)
        return cls(columns, matrix.gather(1, columns) * inside, length, device)

    def _weight(self, tap, dim, ndim):
        return self.weights[tap].view([-1] + [1] * (ndim - 1 - dim % ndim))

    def apply(self, x, dim):
        """The map applied to ``x`` along ``dim``."""
        if dim % x.ndim == x.ndim - 1:  # gathers along the last axis are strided: 5x slower per pixel at 2048 px
            return self.apply(x.transpose(-1, -2).contiguous(), -2).transpose(-1, -2)
        out = x.index_select(dim, self.columns[0]) * self._weight(0, dim, x.ndim)
        for tap in range(1, len(self.columns)):
            out.addcmul_(x.index_select(dim, self.columns[tap]), self._weight(tap, dim, x.ndim))
        return out

    def apply_transposed(self, x, dim):
        """The transposed map (the adjoint) applied to ``x`` along ``dim``."""
        if dim % x.ndim == x.ndim - 1:
            return self.apply_transposed(x.transpose(-1, -2).contiguous(), -2).transpose(-1, -2)
        shape = list(x.shape)
        shape[dim] = self.in_length
        out = x.new_zeros(shape)
        for tap in range(len(self.columns)):
            out.index_add_(dim, self.columns[tap], x * self._weight(tap, dim, x.ndim))
        return out


class _DenseAxis:
    """A linear map along the last or second-last image axis as a dense matrix (``_BandedAxis``'s interface)."""

    def __init__(self, matrix, device):
        self.matrix = matrix.float().to(device)

    def apply(self, x, dim):
        """The map applied to ``x`` along ``dim`` (-2 or -1)."""
        return self.matrix @ x if dim % x.ndim == x.ndim - 2 else x @ self.matrix.T

    def apply_transposed(self, x, dim):
        """The transposed map applied to ``x`` along ``dim`` (-2 or -1)."""
        return self.matrix.T @ x if dim % x.ndim == x.ndim - 2 else x @ self.matrix


@functools.lru_cache(maxsize=32)
def _downscale_axis(hr_length, scale, device):
    """(W, (W W^T)^-1) of one axis: the banded downscale and the inverse of its LR-sized Gram matrix (dense for short
    axes, else banded), with which pinv(W) = W^T (W W^T)^-1 is applied without forming it."""
    down = matlab_bicubic_matrix(hr_length, 1 / scale)
    gram_inv = torch.linalg.inv(down @ down.T)
    if len(gram_inv) > DENSE_GRAM_MAX_LENGTH:
        gram_inv = _BandedAxis.band_of(gram_inv, GRAM_HALF_WIDTH, device)
    else:
        gram_inv = gram_inv.float().to(device)
    if hr_length <= DENSE_DOWNSCALE_MAX_LENGTH:
        return _DenseAxis(down, device), gram_inv
    return _BandedAxis.bicubic(hr_length, 1 / scale, device), gram_inv


def _apply_gram_inv(gram_inv, x, dim):
    """(W W^T)^-1 (symmetric) applied to x along dim (-2 or -1)."""
    if isinstance(gram_inv, _BandedAxis):
        return gram_inv.apply(x, dim)
    return gram_inv @ x if dim == -2 else x @ gram_inv


@functools.lru_cache(maxsize=32)
def _upscale_axis(lr_length, scale, device):
    return _BandedAxis.bicubic(lr_length, scale, device)


def bicubic_downscale(img, scale):
    """MATLAB-style antialiased bicubic downscaling by 1 / ``scale``, batched and on the image's device.

    Equal to BasicSR's ``imresize(img, 1 / scale)`` (without rounding) for each image.

    Args:
        img (Tensor): Images (..., H, W), H and W divisible by ``scale``.
        scale (int): Integer downscaling factor.

    Returns:
        Tensor: (..., H / scale, W / scale), in img's dtype.
    """
    with highest_matmul_precision():
        return _downscale(img.float(), scale).to(img.dtype)


def _downscale(img, scale):
    down_h, _ = _downscale_axis(img.shape[-2], scale, img.device)
    down_w, _ = _downscale_axis(img.shape[-1], scale, img.device)
    return down_w.apply(down_h.apply(img, -2), -1)


def bicubic_upscale(lq, scale):
    """MATLAB-style bicubic upscaling by ``scale`` (BasicSR's ``imresize(lq, scale)``, the "bicubic" reference),
    batched and on the image's device.

    Args:
        lq (Tensor): LR images (..., h, w).
        scale (int): Integer upscaling factor.

    Returns:
        Tensor: (..., h * scale, w * scale), in lq's dtype, not clipped.
    """
    up_h = _upscale_axis(lq.shape[-2], scale, lq.device)
    up_w = _upscale_axis(lq.shape[-1], scale, lq.device)
    return up_w.apply(up_h.apply(lq.float(), -2), -1).to(lq.dtype)


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


# the references every quality report prints beside a model, scored by the same metric code
REFERENCES = ('bicubic', 'ibp')


def reference_upscale(lq, scale, reference, iterations=3):
    """A reference SR image: 'bicubic' (BasicSR's MATLAB ``imresize``, clipped) or 'ibp' (:func:`back_projection`).

    Args:
        lq (Tensor): LR images (B, C, h, w) in [0, 1].
        scale (int): Integer scale.
        reference (str): One of ``REFERENCES``.
        iterations (int): Projection iterations of 'ibp' (the sampler's). Default: 3.

    Returns:
        Tensor: (B, C, h * scale, w * scale) in [0, 1].
    """
    if reference == 'bicubic':
        return bicubic_upscale(lq, scale).clamp(0, 1)
    if reference == 'ibp':
        return back_projection(lq, scale, iterations)
    raise ValueError(f'reference must be one of {", ".join(REFERENCES)}, got {reference!r}.')


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
    down_h, gram_inv_h = _downscale_axis(img.shape[-2], scale, img.device)
    down_w, gram_inv_w = _downscale_axis(img.shape[-1], scale, img.device)
    y, target = img.float(), lq.float()
    # float32 also inside a bf16/fp16 sampler, and at full precision under a caller's TF32 setting
    with torch.autocast(img.device.type, enabled=False), highest_matmul_precision():
        for index in range(iterations):
            if index and value_range is not None:
                y = y.clamp(*value_range)
            residual = _apply_gram_inv(gram_inv_w, _apply_gram_inv(gram_inv_h, target - _downscale(y, scale), -2), -1)
            y = y + down_w.apply_transposed(down_h.apply_transposed(residual, -2), -1)
    return y.to(img.dtype)


@section('lr_consistency')
class LRConsistencyOptions(Section):
    """LR-consistent sampling (srddgan's addition to the paper's sampler, below): every
    predicted y0 and the final image are projected onto the images whose downscale is the LR input. Validation,
    ``test.py``, ``srddgan-infer`` and the benchmarks read it from the option file."""

    downsampler: str = option('none', "'bicubic': BasicSR's MATLAB bicubic imresize, exact for the bicubic configs; "
                              "'none': the paper's sampler.", choices=DOWNSAMPLERS)
    iterations: int = option(3, 'Projections alternated with clipping to the pixel range (more: closer to both '
                             'near saturated pixels).', gt=0)

    def projector(self, scale):
        """The sampler's ``project`` (``diffusion.sample``), the one place it is built from these settings.

        Args:
            scale (int): The SR scale.

        Returns:
            callable | None: ``project(y0, lq, value_range=(-1, 1)) -> y0``, the projection onto the images whose
            downscale is ``lq`` (``iterations`` of them, clipped in between); None for 'none'.
        """
        if self.downsampler == 'none':
            return None
        return functools.partial(project_to_lr, scale=scale, iterations=self.iterations)
