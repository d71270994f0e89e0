"""SRDDGAN training and sampling as a BasicSR model (paper Algorithms 1 and 2)."""
import dataclasses
import math
from collections import OrderedDict
from copy import deepcopy

import torch
import torch.nn.functional as F
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from srddgan_arch.data.batch_degradation import build_batch_degradation
from srddgan_arch.diffusion import DiffusionSchedule, sample, untrained_schedule
from srddgan_arch.lr_consistency import lr_projector
from srddgan_arch.models.sample_validation import SampleValidationMixin
from srddgan_arch.models.training_mixin import TrainingMixin
from srddgan_arch.options import parse_model_options
from srddgan_arch.utils.checkpoint import load_checkpoint


@MODEL_REGISTRY.register()
class SRDDGANModel(TrainingMixin, SampleValidationMixin, SRModel):
    """Super-resolution with a denoising diffusion GAN: G predicts y0 from (y_t, LR, t, z), D judges (y_{t-1}, y_t, t).

    Its ``diffusion``, ``train``, ``val`` and ``lr_consistency`` sections are read through ``srddgan_arch.options``
    (``DiffusionOptions``, ``TrainOptions``, ``ValOptions``, ``LRConsistencyOptions``: every key with its type,
    default and meaning), checked once, here; besides them
    BasicSR's ``network_g``, ``network_d`` (with ``path.pretrain_network_d`` / ``param_key_d`` / ``strict_load_d``)
    and ``path``.

    Args:
        opt (dict): The parsed BasicSR options.
    """

    def __init__(self, opt):
        settings = parse_model_options(opt)
        self.train_settings, self.val_settings = settings.train, settings.val
        self.lr_consistency = settings.lr_consistency
        self.schedule = DiffusionSchedule(**dataclasses.asdict(settings.diffusion))
        super().__init__(opt)
        self.schedule = self.schedule.to(self.device)
        self.project = lr_projector(self.lr_consistency.downsampler, opt['scale'], self.lr_consistency.iterations)
        self._warn_untrained_schedule()
        self.degrade = build_batch_degradation(self.opt, self.device)
        if self.device.type == 'cpu':
            # the R1 gradients and AdamW's second moments reach denormal floats, which slow x86 CPUs 10-100x
            torch.set_flush_denormal(True)

    # ------------------------------------------------------------------ set-up
    def _warn_untrained_schedule(self):
        """Warn when the diffusion section differs from the schedule recorded with ``path.pretrain_network_g``."""
        load_path = self.opt['path'].get('pretrain_network_g')
        if load_path is None:
            return
        checkpoint = load_checkpoint(load_path, what='path.pretrain_network_g')
        untrained = untrained_schedule(self.schedule, checkpoint.get('diffusion'))
        if untrained:
            get_root_logger().warning(f'diffusion: {untrained}: {load_path} was trained with another schedule, its '
                                      'samples degrade until it is trained with this one.')

    def feed_data(self, data):
        """Move a batch to the device; a training batch without ``lq`` is degraded here, batched on the device as
        Real-ESRGAN does (``realesrgan`` section, or ``degrade_in_dataset: false``: ``data/batch_degradation.py``)."""
        if 'lq' not in data:
            data = self.degrade(data)
        super().feed_data(data)

    def init_training_settings(self):
        """Build the EMA generator, the discriminator, the losses, the optimisers and the schedulers."""
        train = self.train_settings
        self.net_g.train()
        self._init_ema(train.ema_decay)
        self.net_d = self.model_to_device(build_network(deepcopy(self.opt['network_d'])))
        self.print_network(self.net_d)
        load_path = self.opt['path'].get('pretrain_network_d')
        if load_path is not None:
            self.load_network(self.net_d, load_path, self.opt['path'].get('strict_load_d', True),
                              self.opt['path'].get('param_key_d', 'params'))
        self.net_d.train()

        self.gan_weight = train.gan_weight
        self.cri_content_style = self._build_loss(train.content_style_opt)
        self.cri_pix = self._build_loss(train.pixel_opt)
        self.r1_gamma = train.r1_gamma
        self.lazy_reg = train.lazy_reg
        self.d_steps_per_g_step = train.d_steps_per_g_step
        self.grad_clip = train.grad_clip
        self.max_nonfinite_steps = train.max_nonfinite_steps
        self.nonfinite_skipped = 0
        self._nonfinite_streak = 0
        self._init_amp(train.use_amp, train.amp_dtype)
        self.log_dict = OrderedDict()

        self.setup_optimizers()
        if train.scheduler is not None:
            self.setup_schedulers()

    def _init_ema(self, ema_decay):
        """EMA copy of G (``net_g_ema``): loaded from ``params_ema`` when G is pretrained or resumed, else copied."""
        self.ema_decay = ema_decay
        if ema_decay <= 0:
            return
        get_root_logger().info(f'Use Exponential Moving Average with decay: {ema_decay}')
        self.net_g_ema = build_network(deepcopy(self.opt['network_g'])).to(self.device)
        load_path = self.opt['path'].get('pretrain_network_g')
        if load_path is not None:
            self.load_network(self.net_g_ema, load_path, self.opt['path'].get('strict_load_g', True), 'params_ema')
        else:
            self.model_ema(0)
        self.net_g_ema.eval()

    def _build_loss(self, loss_opt):
        """A BasicSR loss on the model's device, or None when ``loss_opt`` is empty."""
        return build_loss(deepcopy(loss_opt)).to(self.device) if loss_opt else None

    def _init_amp(self, use_amp, amp_dtype):
        """Autocast settings: bf16/fp16 mixed precision on CUDA only; fp16 gets one GradScaler per optimiser."""
        self.use_amp = bool(use_amp) and self.device.type == 'cuda'
        if use_amp and not self.use_amp:
            get_root_logger().warning('train.use_amp is ignored on CPU: training runs in float32.')
        self.amp_dtype = getattr(torch, amp_dtype)
        use_scaler = self.use_amp and self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=use_scaler)

    def setup_optimizers(self):
        """``optim_g`` for G's trainable parameters (a frozen LR encoder is left out) and ``optim_d`` for D."""
        for name, net in (('g', self.net_g), ('d', self.net_d)):
            optim_opt = deepcopy(getattr(self.train_settings, f'optim_{name}'))
            params = [p for p in net.parameters() if p.requires_grad]
            optimizer = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
            setattr(self, f'optimizer_{name}', optimizer)
            self.optimizers.append(optimizer)

    # ------------------------------------------------------------------ training (Algorithm 1)
    def optimize_parameters(self, current_iter):
        """One iteration of Algorithm 1: a D step (with the lazy R1 penalty), then a G step every
        ``d_steps_per_g_step`` iterations. Steps with a non-finite loss or gradient are skipped and counted.

        Args:
            current_iter (int): Current iteration (1-based).
        """
        y0, x = self.gt * 2 - 1, self.lq * 2 - 1
        stepped = self._d_step(y0, x, apply_r1=self.r1_gamma > 0 and current_iter % self.lazy_reg == 0)
        if current_iter % self.d_steps_per_g_step == 0:
            g_stepped = self._g_step(y0, x)
            stepped = stepped and g_stepped
            if g_stepped and self.ema_decay > 0:
                self.model_ema(decay=self.ema_decay)
        self._count_nonfinite(stepped, current_iter)

    def _random_steps(self, batch):
        """t ~ U{1, ..., T}, one per image."""
        return torch.randint(1, self.schedule.num_timesteps + 1, (batch,), device=self.device)

    def _random_latents(self, batch):
        """z ~ N(0, I) of G's latent size, one per image."""
        return torch.randn(batch, self.get_bare_model(self.net_g).z_dim, device=self.device)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def _d_step(self, y0, x, apply_r1):
        """D step: softplus(-D(real pair)) + softplus(D(fake pair)) (+ R1 on the real y_{t-1}); True if D stepped."""
        self._set_requires_grad(self.net_d, True)
        self.optimizer_d.zero_grad(set_to_none=True)
        t = self._random_steps(y0.size(0))
        y_prev, y_t = self.schedule.q_sample_pairs(y0, t)
        y_prev.requires_grad_(apply_r1)
        with self._autocast():
            d_real = self.net_d(y_prev, y_t, t, lq=x).float()
        l_d_real = F.softplus(-d_real).mean()
        self.scaler_d.scale(l_d_real).backward(retain_graph=apply_r1)
        losses = [l_d_real]
        if apply_r1:
            l_d_r1 = self._r1_penalty(d_real, y_prev)
            self.scaler_d.scale(l_d_r1).backward()
            losses.append(l_d_r1)
            self.log_dict.update(self.reduce_loss_dict(OrderedDict(l_d_r1=l_d_r1)))

        with torch.no_grad(), self._autocast():
            y0_fake = self.net_g(y_t, x, t, self._random_latents(y0.size(0)))
            y_fake_prev = self.schedule.sample_posterior(y0_fake.float(), y_t, t)
        with self._autocast():
            d_fake = self.net_d(y_fake_prev, y_t, t, lq=x).float()
        l_d_fake = F.softplus(d_fake).mean()
        self.scaler_d.scale(l_d_fake).backward()
        losses.append(l_d_fake)

        self.log_dict.update(self.reduce_loss_dict(OrderedDict(l_d_real=l_d_real, l_d_fake=l_d_fake,
                                                               out_d_real=d_real.detach().mean(),
                                                               out_d_fake=d_fake.detach().mean())))
        return self._apply_step(self.optimizer_d, self.net_d, self.scaler_d, losses)

    def _r1_penalty(self, d_real, y_prev):
        """R1 penalty (DDGAN): r1_gamma / 2 * E ||grad_{y_{t-1}} D(y_{t-1}, y_t, t)||^2 on the real y_{t-1}.

        Applied every ``lazy_reg`` D steps, unscaled (as DDGAN does).
        """
        outputs = self.scaler_d.scale(d_real.sum())
        grad = torch.autograd.grad(outputs, y_prev, create_graph=True)[0]
        if self.scaler_d.is_enabled():
            grad = grad / self.scaler_d.get_scale()
        return self.r1_gamma / 2 * grad.float().pow(2).flatten(1).sum(1).mean()

    def _g_step(self, y0, x):
        """G step: alpha * softplus(-D(fake pair)) + content + style (+ pixel) on y0' = G(y_t, x, t, z); True if
        G stepped."""
        self._set_requires_grad(self.net_d, False)
        self.optimizer_g.zero_grad(set_to_none=True)
        y0_pred, y_t, t = self.predict_y0(y0, x)
        loss_dict = self.generator_losses(y0_pred, y0, y_t, t, x)
        l_g_total = sum(loss_dict.values())
        self.scaler_g.scale(l_g_total).backward()
        self.log_dict.update(self.reduce_loss_dict(loss_dict))
        return self._apply_step(self.optimizer_g, self.net_g, self.scaler_g, [l_g_total])

    def predict_y0(self, y0, x):
        """G's prediction in a G step (Algorithm 1): t ~ U{1..T}, y_t ~ q(y_t | y0), z ~ N(0, I), y0' = G(y_t, x, t, z).

        Args:
            y0 (Tensor): The HR images (B, C, H, W) in [-1, 1].
            x (Tensor): The LR images in [-1, 1].

        Returns:
            tuple[Tensor, Tensor, Tensor]: y0' (float32), y_t and t.
        """
        t = self._random_steps(y0.size(0))
        _, y_t = self.schedule.q_sample_pairs(y0, t)
        with self._autocast():
            y0_pred = self.net_g(y_t, x, t, self._random_latents(y0.size(0)))
        return y0_pred.float(), y_t, t

    def generator_losses(self, y0_pred, y0, y_t, t, x):
        """The weighted terms of G's loss (Eq. 22) for a prediction y0' of y0 from y_t.

        Args:
            y0_pred (Tensor): G's prediction y0' (B, C, H, W) in [-1, 1], float32.
            y0 (Tensor): The HR images in [-1, 1].
            y_t (Tensor): The noisy images G saw.
            t (Tensor): LongTensor (B,) of their steps.
            x (Tensor): The LR images in [-1, 1].

        Returns:
            OrderedDict[str, Tensor]: ``l_g_adv`` (alpha L_adv on D's view of the posterior sample of y0'), and when
            configured ``l_g_content`` (beta L_content), ``l_g_style`` (eta L_style), ``l_g_pix``.
        """
        with self._autocast():
            y_fake_prev = self.schedule.sample_posterior(y0_pred, y_t, t)
            d_fake = self.net_d(y_fake_prev, y_t, t, lq=x).float()
        loss_dict = OrderedDict(l_g_adv=self.gan_weight * F.softplus(-d_fake).mean())
        if self.cri_content_style is not None:
            l_content, l_style = self.cri_content_style(y0_pred, y0)
            loss_dict.update({k: v for k, v in (('l_g_content', l_content), ('l_g_style', l_style)) if v is not None})
        if self.cri_pix is not None:
            loss_dict['l_g_pix'] = self.cri_pix(y0_pred, y0)
        return loss_dict

    @staticmethod
    def _set_requires_grad(net, flag):
        for param in net.parameters():
            param.requires_grad = flag

    def _apply_step(self, optimizer, net, scaler, losses):
        """Clip (``grad_clip``) and step, unless a loss or the gradient norm is non-finite (then no update).

        With fp16 the GradScaler handles overflowing gradients itself (it skips and lowers its scale): only a
        non-finite loss counts then. Returns True when the optimiser stepped.
        """
        scaler.unscale_(optimizer)
        params = [p for p in net.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or math.inf)
        checked = [loss.detach() for loss in losses] + ([] if scaler.is_enabled() else [grad_norm])
        finite = self._all_finite(checked)
        if finite:
            scaler.step(optimizer)
        else:
            optimizer.zero_grad(set_to_none=True)
        scaler.update()
        return finite

    def _all_finite(self, tensors):
        """True when every tensor is finite on every process (all ranks then take the same decision)."""
        flag = torch.stack([torch.isfinite(t.float()).all() for t in tensors]).all().float()
        if self.opt['dist']:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag.item())

    def _count_nonfinite(self, stepped, current_iter):
        """Count skipped iterations; stop after ``max_nonfinite_steps`` of them in a row."""
        if stepped:
            self._nonfinite_streak = 0
        else:
            self.nonfinite_skipped += 1
            self._nonfinite_streak += 1
            get_root_logger().warning(f'Iteration {current_iter}: non-finite loss or gradient, update skipped '
                                      f'({self._nonfinite_streak} in a row).')
        self.log_dict['nonfinite_skipped'] = self.nonfinite_skipped
        if self.max_nonfinite_steps and self._nonfinite_streak >= self.max_nonfinite_steps:
            raise RuntimeError(
                f'Training stopped at iteration {current_iter}: {self._nonfinite_streak} iterations in a row had a '
                f'non-finite loss or gradient (train.max_nonfinite_steps = {self.max_nonfinite_steps}). The last '
                f'good checkpoint is in {self.opt["path"].get("models")}; lower the learning rates, set '
                f'train.grad_clip, or check the data, then resume with --auto_resume.')

    # ------------------------------------------------------------------ sampling (Algorithm 2)
    def test(self):
        """Draw ``val.num_samples`` SR images per LR image with the T-step sampler (EMA generator when present).

        ``val.seed`` seeds a dedicated ``torch.Generator`` at every call: the same seed gives the same images. With
        ``lr_consistency.downsampler`` set, every prediction is projected onto the LR-consistent images.
        Sets ``self.samples`` (list of tensors in [0, 1]) and ``self.output`` (the first sample).
        """
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        noise_generator = None
        if self.val_settings.seed is not None:
            noise_generator = torch.Generator(device=self.device).manual_seed(self.val_settings.seed)
        was_training = net.training
        net.eval()
        num_samples = self.val_settings.num_samples
        sr = sample(net, self.lq * 2 - 1, self.schedule, noise_generator=noise_generator, num_samples=num_samples,
                    project=self.project)
        self.samples = list(((sr + 1) / 2).chunk(num_samples))
        net.train(was_training)
        self.output = self.samples[0]

    # ------------------------------------------------------------------ checkpoints
    def save(self, epoch, current_iter):
        """Save G (``params``) with its EMA (``params_ema``) and the diffusion schedule (``diffusion``), D, then the
        training state (optimisers, schedulers, iteration), so that a training state always refers to complete network
        files."""
        schedule = {'diffusion': self.schedule.settings()}  # inference checks it samples with G's training schedule
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'],
                              extra=schedule)
        else:
            self.save_network(self.net_g, 'net_g', current_iter, extra=schedule)
        self.save_network(self.net_d, 'net_d', current_iter)
        self.save_training_state(epoch, current_iter)
