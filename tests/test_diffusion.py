"""Tests of the few-step diffusion: schedule numbers (a hand-computed oracle), forward chain, posterior and sampler."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from srddgan_arch.diffusion import DiffusionSchedule, sample, untrained_schedule
from srddgan_arch.lr_consistency import bicubic_downscale, project_to_lr


class FakeGenerator(nn.Module):
    """A y0-predicting stand-in: tanh of the upsampled LR plus a z-dependent offset; counts its calls."""

    z_dim = 4
    scale = 2
    out_channels = 3

    def __init__(self):
        super().__init__()
        self.calls, self.encode_calls = [], 0

    def encode_lr(self, lq):
        self.encode_calls += 1
        return lq.mean(dim=(1, 2, 3), keepdim=True)

    def forward(self, y_t, lq, t, z, lr_feats=None):
        self.calls.append(t.clone())
        up = F.interpolate(lq, scale_factor=self.scale, mode='nearest')
        return torch.tanh(up + 0.1 * y_t + z.mean(dim=1).view(-1, 1, 1, 1) + lr_feats)


def _steps(batch, t):
    return torch.full((batch,), t, dtype=torch.long)


@pytest.mark.parametrize('num_timesteps, betas, sqrt_abar', [
    (4, [0.4783, 0.8492, 0.9564, 0.9874], [0.7223, 0.2805, 0.0586, 0.0066]),
    (2, [0.9213, 0.9995], None),
])
def test_schedule_matches_reference_numbers(num_timesteps, betas, sqrt_abar):
    """betas and sqrt(abar) equal the reference values of DDGAN's variance-preserving schedule; index 0 is the clean
    image; stored as float32.

    The reference, computed by hand: for k = 0..T, u_k = k / T * (1 - 1e-3) + 1e-3,
    log_mean_k = -0.25 u_k^2 (beta_max - beta_min) - 0.5 u_k beta_min, abar_k = exp(2 log_mean_k),
    beta_k = 1 - abar_k / abar_{k-1}, with beta_min = 0.1, beta_max = 20. T = 4 gives beta_1..4 = 0.4783, 0.8492,
    0.9564, 0.9874 and sqrt(abar_1..4) = 0.7223, 0.2805, 0.0586, 0.0066; T = 2 gives beta = 0.9213, 0.9995.
    """
    schedule = DiffusionSchedule(num_timesteps, beta_min=0.1, beta_max=20.0)
    assert schedule.betas.dtype == torch.float32 and schedule.betas.shape == (num_timesteps + 1, )
    assert schedule.betas[0] == 0 and schedule.alphas_cumprod[0] == 1
    torch.testing.assert_close(schedule.betas[1:], torch.tensor(betas), atol=1e-4, rtol=0)
    if sqrt_abar is not None:
        torch.testing.assert_close(schedule.sqrt_alphas_cumprod[1:], torch.tensor(sqrt_abar), atol=1e-4, rtol=0)


def test_bad_schedule_options_raise():
    """Non-positive T or beta_min >= beta_max are rejected with the offending value named."""
    with pytest.raises(ValueError, match='num_timesteps'):
        DiffusionSchedule(0)
    with pytest.raises(ValueError, match='beta_min'):
        DiffusionSchedule(4, beta_min=20.0, beta_max=0.1)


def test_to_returns_moved_copy():
    """``to`` gives a new schedule with equal tensors and leaves the original untouched."""
    schedule = DiffusionSchedule(4)
    moved = schedule.to('cpu')
    assert moved is not schedule and moved.num_timesteps == 4
    torch.testing.assert_close(moved.posterior_mean_coef2, schedule.posterior_mean_coef2)


def test_q_sample_moments():
    """q(y_t | y0) has mean sqrt(abar_t) y0 and variance 1 - abar_t; t = 0 returns y0."""
    torch.manual_seed(0)
    schedule = DiffusionSchedule(4)
    y0 = torch.full((4000, 1, 4, 4), 0.5)
    assert torch.equal(schedule.q_sample(y0, _steps(4000, 0)), y0)
    for step in range(1, 5):
        y_t = schedule.q_sample(y0, _steps(4000, step))
        abar = schedule.alphas_cumprod[step]
        assert abs(y_t.mean() - 0.5 * abar.sqrt()) < 0.01
        assert abs(y_t.var() - (1 - abar)) < 0.02


def test_q_sample_pairs_follow_forward_chain():
    """The pair's y_t has the marginal of q(y_t | y0) and y_t - sqrt(alpha_t) y_{t-1} has variance beta_t."""
    torch.manual_seed(0)
    schedule = DiffusionSchedule(4)
    y0 = torch.full((4000, 1, 4, 4), -0.7)
    for step in range(1, 5):
        y_prev, y_t = schedule.q_sample_pairs(y0, _steps(4000, step))
        abar = schedule.alphas_cumprod[step]
        assert abs(y_t.mean() + 0.7 * abar.sqrt()) < 0.01 and abs(y_t.var() - (1 - abar)) < 0.02
        residual = y_t - schedule.sqrt_alphas[step] * y_prev
        assert abs(residual.var() - schedule.betas[step]) < 0.02


def test_posterior_at_first_step_is_y0():
    """At t = 1 the posterior mean is y0, its variance 0, and sampling adds no noise."""
    schedule = DiffusionSchedule(4)
    y0, y_t = torch.rand(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    mean, variance, _ = schedule.posterior_mean_variance(y0, y_t, _steps(2, 1))
    torch.testing.assert_close(mean, y0)
    assert torch.all(variance == 0)
    torch.testing.assert_close(schedule.sample_posterior(y0, y_t, _steps(2, 1)), y0)


@pytest.mark.parametrize('num_timesteps', [2, 4])
def test_posterior_mean_expectation_under_forward_chain(num_timesteps):
    """E[mean(y0, y_t)] over y_t ~ q(y_t | y0) is sqrt(abar_{t-1}) y0 (holds with sqrt(alpha_t), not sqrt(abar_t))."""
    torch.manual_seed(0)
    schedule = DiffusionSchedule(num_timesteps)
    y0 = torch.full((20000, 1, 2, 2), 0.8)
    for step in range(1, num_timesteps + 1):
        t = _steps(20000, step)
        mean, _, _ = schedule.posterior_mean_variance(y0, schedule.q_sample(y0, t), t)
        assert abs(mean.mean() - 0.8 * schedule.alphas_cumprod_prev[step].sqrt()) < 5e-3
        coef1, coef2 = schedule.posterior_mean_coef1[step], schedule.posterior_mean_coef2[step]
        exact = coef1 + coef2 * schedule.sqrt_alphas_cumprod[step]
        torch.testing.assert_close(exact, schedule.alphas_cumprod_prev[step].sqrt(), atol=1e-6, rtol=0)


def test_posterior_sample_recovers_marginal():
    """Sampling the posterior from forward-chain y_t gives y_{t-1} with the marginal variance 1 - abar_{t-1}."""
    torch.manual_seed(0)
    schedule = DiffusionSchedule(4)
    y0 = torch.zeros(4000, 1, 4, 4)
    for step in range(2, 5):
        t = _steps(4000, step)
        y_prev = schedule.sample_posterior(y0, schedule.q_sample(y0, t), t)
        assert abs(y_prev.var() - (1 - schedule.alphas_cumprod_prev[step])) < 0.02


def test_single_step_sampling_returns_generator_output():
    """With T = 1 the sampler returns exactly what the generator predicts."""
    generator = FakeGenerator()
    lq, z = torch.rand(2, 3, 4, 4) * 2 - 1, torch.randn(2, 4)
    rng = torch.Generator().manual_seed(3)
    out = sample(generator, lq, DiffusionSchedule(1), z=z, noise_generator=rng)
    y_t = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, generator(y_t, lq, _steps(2, 1), z, lr_feats=generator.encode_lr(lq)))


def test_sampler_calls_and_reproducibility():
    """T generator calls from t = T down to 1, one encode_lr call, HR shape, [-1, 1], same seed -> same image."""
    generator, lq = FakeGenerator(), torch.rand(2, 3, 4, 4) * 2 - 1
    schedule = DiffusionSchedule(4)
    first = sample(generator, lq, schedule, noise_generator=torch.Generator().manual_seed(1))
    assert generator.encode_calls == 1
    assert [int(t[0]) for t in generator.calls] == [4, 3, 2, 1]
    assert first.shape == (2, 3, 8, 8) and first.abs().max() <= 1
    again = sample(generator, lq, schedule, noise_generator=torch.Generator().manual_seed(1))
    other = sample(generator, lq, schedule, noise_generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_untrained_schedule_names_the_differences():
    """A schedule is compared with the settings G was trained with (settings() records them): differences are named
    with the trained value; the same settings, or unknown ones, give None."""
    trained = DiffusionSchedule(4).settings()
    assert trained == {'num_timesteps': 4, 'beta_min': 0.1, 'beta_max': 20.0}
    assert untrained_schedule(DiffusionSchedule(4), trained) is None
    assert untrained_schedule(DiffusionSchedule(8), None) is None
    assert untrained_schedule(DiffusionSchedule(8), trained) == 'num_timesteps 8 (trained: 4)'
    assert untrained_schedule(DiffusionSchedule(2, beta_max=10.0), trained) == ('num_timesteps 2 (trained: 4), '
                                                                                'beta_max 10.0 (trained: 20.0)')


def test_sample_projects_every_prediction_and_returns_a_consistent_image():
    """With project, each of the T predictions passes through it (in [-1, 1], with the LR batch) before the posterior
    step, and the output, the last projected prediction, downscales exactly to the LR image."""
    generator, schedule = FakeGenerator(), DiffusionSchedule(num_timesteps=4)
    lq = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    calls = []

    def project(y0, lq_seen):
        calls.append(lq_seen.shape)
        return project_to_lr(y0, lq_seen, generator.scale)

    out = sample(generator, lq, schedule, noise_generator=torch.Generator().manual_seed(1), project=project,
                 num_samples=2)
    assert calls == [(4, 3, 8, 8)] * 4
    assert (bicubic_downscale(out, 2) - lq.repeat(2, 1, 1, 1)).abs().max() < 1e-5
