"""Tests of the LR-consistency projection: BasicSR's MATLAB bicubic as matrices, the exact projection, references."""
import numpy as np
import pytest
import torch
from basicsr.utils.matlab_functions import imresize

from srddgan_arch import lr_consistency
from srddgan_arch.lr_consistency import (
    back_projection,
    bicubic_downscale,
    bicubic_upscale,
    matlab_bicubic_matrix,
    project_to_lr,
    reference_upscale,
)
from srddgan_arch.metrics.lr_psnr_metric import calculate_lr_psnr


@pytest.mark.parametrize('height, width, scale', [(32, 32, 4), (24, 40, 4), (18, 10, 2), (64, 32, 8), (8, 8, 4),
                                                  (1040, 12, 4)])  # HR axes over DENSE_DOWNSCALE_MAX_LENGTH: taps
def test_downscale_and_upscale_equal_basicsr_imresize(height, width, scale):
    """The separable matrices reproduce BasicSR's imresize (antialiased down, plain up) to float32 rounding, borders
    included, as dense products and tap by tap; every row of the downscale matrix sums to 1."""
    img = torch.rand(3, height, width, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(bicubic_downscale(img[None], scale)[0], imresize(img, 1 / scale), atol=1e-6)
    lq = img[:, :height // scale, :width // scale]
    assert torch.allclose(bicubic_upscale(lq[None], scale)[0], imresize(lq, scale), atol=1e-6)
    assert torch.allclose(matlab_bicubic_matrix(height, 1 / scale).sum(dim=1), torch.ones(height // scale,
                                                                                              dtype=torch.float64))


def _images(batch=2, size=32, scale=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    hr = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    lq = torch.rand(batch, 3, size // scale, size // scale, generator=generator) * 2 - 1
    return hr, lq


def test_projection_is_consistent_idempotent_and_closest():
    """D(P(y)) = x to float32 rounding, P(P(y)) = P(y), and no other consistent image is closer to y."""
    y, x = _images()
    projected = project_to_lr(y, x, 4)
    assert (bicubic_downscale(projected, 4) - x).abs().max() < 1e-5
    assert torch.allclose(project_to_lr(projected, x, 4), projected, atol=1e-5)
    for seed in range(3):
        other = project_to_lr(_images(seed=seed + 1)[0], x, 4)
        assert ((projected - y).flatten(1).norm(dim=1) <= (other - y).flatten(1).norm(dim=1) + 1e-4).all()


@pytest.mark.parametrize('lr_height, scale', [(40, 4), (150, 4), (150, 2), (150, 8)])  # banded Gram inverse over 128
def test_projection_equals_the_dense_pseudo_inverse(lr_height, scale):
    """The projection applied tap by tap is y + pinv(W_h) (x - W_h y W_w^T) pinv(W_w)^T with the dense matrices."""
    generator = torch.Generator().manual_seed(1)
    y = torch.rand(1, 1, scale * lr_height, 6 * scale, generator=generator)
    x = torch.rand(1, 1, lr_height, 6, generator=generator)
    down_h, down_w = matlab_bicubic_matrix(scale * lr_height, 1 / scale), matlab_bicubic_matrix(6 * scale, 1 / scale)
    residual = x.double() - down_h @ y.double() @ down_w.T
    expected = y.double() + torch.linalg.pinv(down_h) @ residual @ torch.linalg.pinv(down_w).T
    assert (project_to_lr(y, x, scale, value_range=None).double() - expected).abs().max() < 1e-5


def test_projection_under_autocast_computes_in_float32():
    """Inside a bf16 autocast region (the sampler's --bf16) the projection still computes in float32."""
    y, x = _images()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        projected = project_to_lr(y, x, 4)
    assert projected.dtype == torch.float32 and torch.equal(projected, project_to_lr(y, x, 4))


def test_projection_is_batched():
    """A batch is projected image by image: the result equals projecting each image alone."""
    y, x = _images(batch=3)
    together = project_to_lr(y, x, 4)
    for index in range(3):
        alone = project_to_lr(y[index:index + 1], x[index:index + 1], 4)
        assert torch.allclose(together[index:index + 1], alone, atol=1e-6)


def test_iterations_bring_the_result_into_range_and_keep_it_consistent():
    """Alternating projection and clipping: more iterations leave less outside [-1, 1]; always consistent."""
    y, x = _images()
    outside = []
    for iterations in (1, 2, 5):
        projected = project_to_lr(y, x, 4, iterations=iterations)
        assert (bicubic_downscale(projected, 4) - x).abs().max() < 1e-5
        outside.append((projected.abs() - 1).clamp(min=0).sum().item())
    assert outside[0] > outside[1] > outside[2]


def _smooth_hr_and_uint8_lr(low, high):
    """An HR image with values in [low, high] and its MATLAB bicubic LR rounded to uint8 (as the data scripts write
    it), both (3, h, w) in [0, 255]."""
    grid = torch.linspace(0, 1, 64)
    hr = torch.stack([grid[:, None] * grid[None], grid[None].expand(64, 64),
                      ((grid[:, None] * 6).sin() * .5 + .5).expand(64, 64)]) * (high - low) + low
    return hr * 255, (imresize(hr, 1 / 4) * 255).round().clamp(0, 255)


def test_lr_psnr_of_projected_images_after_uint8_rounding():
    """The projected, clipped and rounded SR image of a noisy guess downscales to the uint8 LR image within 0.5/255
    everywhere: LR-PSNR (SRFlow's metric) is above 45 dB."""
    _, lq_uint8 = _smooth_hr_and_uint8_lr(0.1, 0.9)
    lq = lq_uint8[None] / 255
    noisy_sr = (bicubic_upscale(lq, 4) + 0.02 * torch.randn(1, 3, 64, 64)).clamp(0, 1)
    sr = project_to_lr(noisy_sr, lq, 4, iterations=1, value_range=(0, 1)).clamp(0, 1)
    sr_uint8 = (sr[0] * 255).round()
    assert (imresize(sr_uint8 / 255, 1 / 4) * 255 - lq_uint8).abs().max() < 0.5
    to_hwc = lambda t: t.permute(1, 2, 0).numpy().astype(np.uint8)  # noqa: E731
    assert calculate_lr_psnr(to_hwc(sr_uint8), to_hwc(lq_uint8)) > 45


def test_saturated_images_need_more_iterations():
    """Where the LR is nearly black or white, clipping the projection to [0, 1] breaks consistency; alternating
    projection and clipping shrinks that error with every iteration (projections onto convex sets)."""
    _, lq_uint8 = _smooth_hr_and_uint8_lr(0.0, 1.0)
    lq = lq_uint8[None] / 255
    noisy_sr = (bicubic_upscale(lq, 4) + 0.05 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    errors = []
    for iterations in (1, 3, 10, 30):
        sr = project_to_lr(noisy_sr.clamp(0, 1), lq, 4, iterations=iterations, value_range=(0, 1)).clamp(0, 1)
        errors.append((bicubic_downscale(sr, 4) - lq).abs().max().item() * 255)
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 4


def test_back_projection_reference_is_consistent_and_in_range():
    """IBP (bicubic + the projection) is within [0, 1], consistent with the LR, and closer to it than bicubic."""
    _, x = _images(size=64)
    lq = (x + 1) / 2
    ibp = back_projection(lq, 4)
    assert ibp.shape == (2, 3, 64, 64) and ibp.min() >= 0 and ibp.max() <= 1
    bicubic = bicubic_upscale(lq, 4).clamp(0, 1)
    assert (bicubic_downscale(ibp, 4) - lq).abs().max() < (bicubic_downscale(bicubic, 4) - lq).abs().max()


@pytest.mark.parametrize('shape_hr, shape_lq', [((1, 3, 32, 32), (1, 3, 16, 16)), ((2, 3, 32, 32), (1, 3, 8, 8))])
def test_wrong_sizes_are_refused(shape_hr, shape_lq):
    """An SR image that is not scale x the LR image (or another batch) is refused with both shapes named."""
    with pytest.raises(ValueError, match='is not a x4 upscaling'):
        project_to_lr(torch.zeros(shape_hr), torch.zeros(shape_lq), 4)


def test_reference_upscale_names_the_two_references():
    """'bicubic' is the clipped bicubic upscale, 'ibp' the back-projection; another name is refused."""
    lq = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(reference_upscale(lq, 4, 'bicubic'), bicubic_upscale(lq, 4).clamp(0, 1))
    assert torch.equal(reference_upscale(lq, 4, 'ibp', 2), back_projection(lq, 4, 2))
    with pytest.raises(ValueError, match='bicubic, ibp'):
        reference_upscale(lq, 4, 'lanczos')


@pytest.mark.parametrize('set_by', ['legacy', 'backend'])
def test_projection_runs_at_full_fp32_precision_whatever_the_caller_set(monkeypatch, set_by):
    """With reduced-precision fp32 matmuls set by the caller (TF32 / bf16: ``set_float32_matmul_precision('medium')``
    or the per-backend ``fp32_precision``), the projection's products run at full precision (IEEE) and stay exact; the
    caller's settings are back afterwards."""
    backends = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    seen, dense_apply = [], lr_consistency._DenseAxis.apply

    def recording_apply(self, x, dim):
        seen.append(tuple(backend.fp32_precision for backend in backends))
        return dense_apply(self, x, dim)

    monkeypatch.setattr(lr_consistency._DenseAxis, 'apply', recording_apply)
    original = [backend.fp32_precision for backend in backends]
    try:
        if set_by == 'legacy':
            torch.set_float32_matmul_precision('medium')
        else:
            torch.backends.cuda.matmul.fp32_precision = 'tf32'
        callers = [backend.fp32_precision for backend in backends]
        y, x = _images()
        projected = project_to_lr(y, x, 4)
        assert seen and set(seen) == {('ieee', 'ieee')}
        assert (bicubic_downscale(projected, 4) - x).abs().max() < 1e-5
        assert [backend.fp32_precision for backend in backends] == callers
        if set_by == 'legacy':
            assert torch.get_float32_matmul_precision() == 'medium'
    finally:
        torch.set_float32_matmul_precision('highest')
        for backend, precision in zip(backends, original, strict=True):
            backend.fp32_precision = precision
