"""Tests of srddgan_runtime, the torch-free runtime: torch's CPU normal stream in numpy, the numpy LR projection and
the numpy sampler, each against the torch code it reproduces."""
import numpy as np
import pytest
import torch

from srddgan_arch.diffusion import DiffusionSchedule, sample
from srddgan_arch.lr_consistency import LRConsistencyOptions, project_to_lr
from srddgan_runtime import Schedule
from srddgan_runtime import projection as numpy_projection
from srddgan_runtime import upsampler as numpy_sampler
from srddgan_runtime.torch_random import TorchCPUGenerator


@pytest.mark.parametrize('seed', [0, 7, 2**32 + 5, 2**64 - 1])
def test_normal_stream_equals_torch_randn(seed):
    """A sequence of draws (sizes below 16, multiples of 16 and others) equals torch.randn of a seeded CPU generator."""
    torch_rng, numpy_rng = torch.Generator().manual_seed(seed), TorchCPUGenerator(seed)
    for shape in [(1, 4), (3,), (1, 16), (2, 3, 5, 7), (1, 256), (1, 3, 24, 40), (5,)]:
        expected = torch.randn(*shape, generator=torch_rng).numpy()
        drawn = numpy_rng.randn(*shape)
        assert drawn.shape == expected.shape and drawn.dtype == np.float32
        np.testing.assert_allclose(drawn, expected, rtol=0, atol=5e-6)


def test_small_draws_are_exact_and_share_the_cached_normal():
    """Below 16 numbers torch draws double normals one by one, keeping each pair's second: reproduced exactly."""
    torch_rng, numpy_rng = torch.Generator().manual_seed(3), TorchCPUGenerator(3)
    for count in (3, 1, 4, 5):
        np.testing.assert_array_equal(numpy_rng.randn(count), torch.randn(count, generator=torch_rng).numpy())


@pytest.mark.parametrize('lr_height,lr_width,scale', [(8, 12, 4), (6, 150, 2), (5, 7, 8)])
def test_numpy_projection_equals_torch_and_is_consistent(lr_height, lr_width, scale):
    """The numpy projection (dense and banded Gram inverses) equals the torch one and reproduces the LR image."""
    generator = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, lr_height * scale, lr_width * scale, generator=generator) * 2 - 1
    lq = torch.rand(2, 3, lr_height, lr_width, generator=generator) * 2 - 1
    expected = project_to_lr(img, lq, scale, iterations=3).numpy()
    projected = numpy_projection.project_to_lr(img.numpy(), lq.numpy(), scale, iterations=3)
    np.testing.assert_allclose(projected, expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(numpy_projection.bicubic_downscale(projected, scale), lq.numpy(), rtol=0, atol=2e-6)


def test_numpy_projection_refuses_wrong_sizes():
    """An image that is not a x-scale upscaling of the LR image is one clear error."""
    with pytest.raises(ValueError, match='not a x4 upscaling'):
        numpy_projection.project_to_lr(np.zeros((1, 3, 16, 16)), np.zeros((1, 3, 5, 4)), 4)


class _ToyGenerator(torch.nn.Module):
    """A stand-in generator whose numpy twin is ``_toy_step``: y0' = tanh(0.5 y_t + 0.2 mean(z) + 0.1 t)."""

    z_dim, scale, out_channels = 4, 2, 3

    def encode_lr(self, lq):
        return None

    def forward(self, y_t, lq, t, z, lr_feats=None):
        return torch.tanh(0.5 * y_t + 0.2 * z.mean(1).view(-1, 1, 1, 1) + 0.1 * t.float().view(-1, 1, 1, 1))


def _toy_step(y_t, lq, t, z, lr_feats):
    shift = 0.2 * z.mean(1).reshape(-1, 1, 1, 1) + 0.1 * t.astype(np.float32).reshape(-1, 1, 1, 1)
    return np.tanh(0.5 * y_t + shift).astype(np.float32)


@pytest.mark.parametrize('steps,project', [(4, False), (2, True)])
def test_numpy_sampler_equals_torch_sample(steps, project):
    """With the same seed, the numpy sampler draws y_T, z and the noise as the torch sampler and gives its image."""
    schedule = DiffusionSchedule(num_timesteps=steps)
    lq = torch.rand(2, 3, 6, 10, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch_rng = torch.Generator().manual_seed(11)
    z = torch.randn(2, 4, generator=torch_rng)
    expected = sample(_ToyGenerator(), lq, schedule, z=z, noise_generator=torch_rng,
                      project=LRConsistencyOptions(downsampler='bicubic').projector(2) if project else None).numpy()
    numpy_rng = TorchCPUGenerator(11)
    project_np = (lambda y0, x: numpy_projection.project_to_lr(y0, x, 2, 3)) if project else None
    out = numpy_sampler.sample(_toy_step, None, lq.numpy(), Schedule.from_dict(schedule), numpy_rng.randn(2, 4),
                               numpy_rng, 3, 2, project_np)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_schedule_numbers_are_the_torch_schedule():
    """Schedule.from_dict reads a DiffusionSchedule's posterior numbers unchanged (float32)."""
    torch_schedule = DiffusionSchedule(num_timesteps=4)
    schedule = Schedule.from_dict(torch_schedule)
    assert schedule.num_timesteps == 4
    np.testing.assert_array_equal(schedule.posterior_mean_coef2, torch_schedule.posterior_mean_coef2.numpy())
