"""The few-step diffusion of SRDDGAN: variance-preserving schedule, forward chain, posterior and the T-step sampler.

Pure tensor code, no ``nn.Module``. Images inside the diffusion are in [-1, 1]. Time steps are LongTensors indexed
t = 0..T, where t = 0 is the clean image y0 and every per-step tensor of the schedule has T + 1 entries.
"""
import torch

from srddgan_arch.options.schema import OptionError, Section, option, section

# DDGAN's variance-preserving schedule starts slightly above u = 0 so that beta_1 is not zero
_EPS_SMALL = 1e-3
# floor of the posterior variance before the log (it is exactly 0 at t = 1)
_LOG_VARIANCE_FLOOR = 1e-20

_SCHEDULE_TENSORS = ('betas', 'alphas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas', 'sqrt_betas',
                     'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod', 'posterior_variance',
                     'posterior_log_variance_clipped', 'posterior_mean_coef1', 'posterior_mean_coef2')


@section('diffusion')
class DiffusionOptions(Section):
    """The diffusion schedule (keyword arguments of ``DiffusionSchedule``)."""

    num_timesteps: int = option(4, 'Number of denoising steps T (paper Table 1).', ge=1)
    beta_min: float = option(0.1, "beta_min of DDGAN's variance-preserving schedule.", ge=0)
    beta_max: float = option(20.0, "beta_max of DDGAN's variance-preserving schedule (above beta_min).")

    def validate(self, key):
        if not self.beta_min < self.beta_max:
            raise OptionError(f'{key("beta_min")} must be smaller than {key("beta_max")}, got beta_min='
                              f'{self.beta_min}, beta_max={self.beta_max}.')


def _gather(values, t, x):
    """Pick ``values[t]`` per sample and shape it to broadcast against ``x`` (B, ...)."""
    return values.to(x.dtype)[t].view(-1, *([1] * (x.dim() - 1)))


class DiffusionSchedule:
    """Variance-preserving schedule with a few large steps (DDGAN's discretisation) and its posterior.

    With u_k = k / T * (1 - 1e-3) + 1e-3 for k = 0..T, the continuous VP process gives
    abar(u) = exp(-0.5 u^2 (beta_max - beta_min) - u beta_min) and beta_k = 1 - abar(u_k) / abar(u_{k-1}).
    The discrete chain then uses alpha_t = 1 - beta_t and abar_t = prod_{s <= t} alpha_s (Eq. 15), so abar_0 = 1.
    Computed in float64, stored in float32. Index 0 of every tensor is the clean image (beta_0 = 0); the posterior
    entries at index 0 are unused and set to 0. The arguments, their defaults and rules are those of the
    ``diffusion`` section (``DiffusionOptions``).

    Args:
        num_timesteps (int): Number of diffusion steps T. Default: 4.
        beta_min (float): beta_min of the continuous VP schedule. Default: 0.1.
        beta_max (float): beta_max of the continuous VP schedule, above beta_min. Default: 20.0.
    """

    def __init__(self, num_timesteps=DiffusionOptions.num_timesteps, beta_min=DiffusionOptions.beta_min,
                 beta_max=DiffusionOptions.beta_max):
        DiffusionOptions(num_timesteps=num_timesteps, beta_min=beta_min, beta_max=beta_max)  # its rules
        self.num_timesteps = num_timesteps
        self.beta_min = beta_min
        self.beta_max = beta_max

        u = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps * (1 - _EPS_SMALL) + _EPS_SMALL
        continuous_abar = torch.exp(-0.5 * u**2 * (beta_max - beta_min) - u * beta_min)
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), 1 - continuous_abar[1:] / continuous_abar[:-1]])
        alphas = 1 - betas
        abar = torch.cumprod(alphas, dim=0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])

        # Eqs. 17-18 (with sqrt(alpha_t), the DDPM posterior, as the y_t coefficient); index 0 is left at 0
        one_minus_abar = (1 - abar).clamp(min=torch.finfo(torch.float64).tiny)
        posterior_variance = betas * (1 - abar_prev) / one_minus_abar
        coef1 = betas * abar_prev.sqrt() / one_minus_abar
        coef2 = (1 - abar_prev) * alphas.sqrt() / one_minus_abar
        coef1[0] = coef2[0] = 0

        tensors = dict(
            betas=betas,
            alphas=alphas,
            alphas_cumprod=abar,
            alphas_cumprod_prev=abar_prev,
            sqrt_alphas=alphas.sqrt(),
            sqrt_betas=betas.sqrt(),
            sqrt_alphas_cumprod=abar.sqrt(),
            sqrt_one_minus_alphas_cumprod=(1 - abar).sqrt(),
            posterior_variance=posterior_variance,
            posterior_log_variance_clipped=posterior_variance.clamp(min=_LOG_VARIANCE_FLOOR).log(),
            posterior_mean_coef1=coef1,
            posterior_mean_coef2=coef2)
        for name, value in tensors.items():
            setattr(self, name, value.float())

    def __repr__(self):
        return (f'{type(self).__name__}(num_timesteps={self.num_timesteps}, beta_min={self.beta_min}, '
                f'beta_max={self.beta_max})')

    def settings(self):
        """The numbers that build this schedule, as a dict of the constructor's arguments (what checkpoints record).

        Returns:
            dict: ``num_timesteps``, ``beta_min`` and ``beta_max``.
        """
        return dict(num_timesteps=self.num_timesteps, beta_min=self.beta_min, beta_max=self.beta_max)

    def to(self, device):
        """Return a copy of the schedule with every tensor on ``device``.

        Args:
            device (torch.device | str): Target device.

        Returns:
            DiffusionSchedule: The moved copy (self is left unchanged).
        """
        moved = object.__new__(type(self))
        moved.__dict__.update(self.__dict__)
        for name in _SCHEDULE_TENSORS:
            setattr(moved, name, getattr(self, name).to(device))
        return moved

    def q_sample(self, y0, t, noise=None):
        """Sample y_t ~ q(y_t | y0) = N(sqrt(abar_t) y0, (1 - abar_t) I) (Eqs. 15, 19).

        Args:
            y0 (Tensor): Clean images (B, C, H, W) in [-1, 1].
            t (Tensor): LongTensor (B,) of steps in 0..T; t = 0 returns y0.
            noise (Tensor | None): Standard normal noise like y0. Default: None (drawn here).

        Returns:
            Tensor: y_t, shaped like y0.
        """
        if noise is None:
            noise = torch.randn_like(y0)
        std = _gather(self.sqrt_one_minus_alphas_cumprod, t, y0)
        return _gather(self.sqrt_alphas_cumprod, t, y0) * y0 + std * noise

    def q_sample_pairs(self, y0, t):
        """Sample a real pair (y_{t-1}, y_t) of the forward chain for the discriminator (Algorithm 1, line 5).

        y_{t-1} ~ q(y_{t-1} | y0), then y_t = sqrt(alpha_t) y_{t-1} + sqrt(beta_t) eps, one forward step.

        Args:
            y0 (Tensor): Clean images (B, C, H, W) in [-1, 1].
            t (Tensor): LongTensor (B,) of steps in 1..T.

        Returns:
            tuple[Tensor, Tensor]: (y_{t-1}, y_t).
        """
        y_prev = self.q_sample(y0, t - 1)
        y_t = _gather(self.sqrt_alphas, t, y0) * y_prev + _gather(self.sqrt_betas, t, y0) * torch.randn_like(y0)
        return y_prev, y_t

    def posterior_mean_variance(self, y0, y_t, t):
        """Mean and variance of the posterior q(y_{t-1} | y_t, y0) (Eqs. 16-18, 26-27).

        mean = beta_t sqrt(abar_{t-1}) / (1 - abar_t) y0 + (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t) y_t,
        variance = beta_t (1 - abar_{t-1}) / (1 - abar_t). The paper prints sqrt(abar_t) as the y_t coefficient;
        the DDPM posterior has sqrt(alpha_t), used here. At t = 1 the mean is y0 and the variance is 0.

        Args:
            y0 (Tensor): Clean (or predicted clean) images (B, C, H, W).
            y_t (Tensor): Noisy images at step t, shaped like y0.
            t (Tensor): LongTensor (B,) of steps in 1..T.

        Returns:
            tuple[Tensor, Tensor, Tensor]: mean (like y0), variance and log-variance clamped at 1e-20,
            both (B, 1, 1, 1).
        """
        mean = _gather(self.posterior_mean_coef1, t, y0) * y0 + _gather(self.posterior_mean_coef2, t, y0) * y_t
        variance = _gather(self.posterior_variance, t, y0)
        log_variance_clipped = _gather(self.posterior_log_variance_clipped, t, y0)
        return mean, variance, log_variance_clipped

    def sample_posterior(self, y0, y_t, t, noise=None):
        """Sample y_{t-1} ~ q(y_{t-1} | y_t, y0) by the reparameterisation trick (Eq. 28); no noise where t == 1.

        Args:
            y0 (Tensor): Clean (or predicted clean) images (B, C, H, W).
            y_t (Tensor): Noisy images at step t, shaped like y0.
            t (Tensor): LongTensor (B,) of steps in 1..T.
            noise (Tensor | None): Standard normal noise like y0. Default: None (drawn here).

        Returns:
            Tensor: y_{t-1}, shaped like y0.
        """
        mean, _, log_variance = self.posterior_mean_variance(y0, y_t, t)
        if noise is None:
            noise = torch.randn_like(y0)
        nonzero = (t != 1).to(y0.dtype).view(-1, *([1] * (y0.dim() - 1)))
        return mean + nonzero * torch.exp(0.5 * log_variance) * noise


def untrained_schedule(schedule, trained):
    """Why sampling with ``schedule`` leaves the schedule G was trained with, or None when it does not.

    G learns y0 from y_t at the T noise levels of its training schedule (and the step indices 1..T): with another T
    or other betas it sees inputs it was never trained on.

    Args:
        schedule (DiffusionSchedule): The schedule to sample with.
        trained (dict | None): ``DiffusionSchedule.settings()`` of the training schedule; None when unknown.

    Returns:
        str | None: The differing settings, e.g. 'num_timesteps 8 (trained: 4)'.
    """
    if trained is None:
        return None
    differences = [f'{key} {value} (trained: {trained[key]})' for key, value in schedule.settings().items()
                   if key in trained and value != trained[key]]
    return ', '.join(differences) or None


@torch.no_grad()
def sample(generator, lq, schedule, *, z=None, noise_generator=None, num_samples=1, project=None):
    """Algorithm 2: T-step inference y_T -> y_0 with a generator that predicts y0.

    With ``project`` (e.g. :func:`srddgan_arch.lr_consistency.project_to_lr` with its scale bound), every
    prediction y0' is replaced by ``project(y0', lq)`` before the posterior step; the last y0' is the output, so it
    is projected too.

    Args:
        generator (nn.Module): Callable ``generator(y_t, lq, t, z, lr_feats=...)`` returning y0' in [-1, 1], with
            attributes ``z_dim``, ``scale`` (HR size = LR size * scale) and ``out_channels`` and a method
            ``encode_lr(lq)`` (called once per batch, not once per step); ``generator.embed_z(z)``, where it exists,
            is called once too and its result passed as z to every step.
        lq (Tensor): LR images (B, C, h, w) in [-1, 1].
        schedule (DiffusionSchedule): The diffusion schedule (on lq's device).
        z (Tensor | None): Latent codes (num_samples * B, generator.z_dim), one per image for all steps.
            Default: None (drawn).
        noise_generator (torch.Generator | None): Random generator for y_T, z and the posterior noise, on lq's device.
            Default: None (the global generator).
        num_samples (int): Samples per LR image, drawn in one batch; the LR encoder still runs once per image.
            Default: 1.
        project (callable | None): ``project(y0, lq) -> y0`` applied to every prediction, in [-1, 1]. Default: None.

    Returns:
        Tensor: SR images y_0 (num_samples * B, C, h * scale, w * scale) in [-1, 1], sample-major: ``.chunk(
        num_samples)`` gives one batch of B images per sample.
    """
    lr_feats = generator.encode_lr(lq)
    if num_samples > 1:
        lq = lq.repeat(num_samples, 1, 1, 1)
        lr_feats = None if lr_feats is None else lr_feats.repeat(num_samples, 1, 1, 1)
    batch, _, height, width = lq.shape
    hr_shape = (batch, generator.out_channels, height * generator.scale, width * generator.scale)
    y_t = torch.randn(hr_shape, generator=noise_generator, device=lq.device, dtype=lq.dtype)
    if z is None:
        z = torch.randn(batch, generator.z_dim, generator=noise_generator, device=lq.device, dtype=lq.dtype)
    embed_z = getattr(generator, 'embed_z', None)
    if embed_z is not None:
        z = embed_z(z)
    for step in range(schedule.num_timesteps, 0, -1):
        t = torch.full((batch,), step, dtype=torch.long, device=lq.device)
        y0_pred = generator(y_t, lq, t, z, lr_feats=lr_feats).float()
        if project is not None:
            y0_pred = project(y0_pred, lq.float())
        noise = torch.randn(hr_shape, generator=noise_generator, device=lq.device, dtype=lq.dtype)
        y_t = schedule.sample_posterior(y0_pred, y_t, t, noise=noise)
    return y_t
