"""SRDDGAN training and sampling as a BasicSR model (paper Algorithms 1 and 2)."""
import dataclasses
from collections import OrderedDict
from copy import deepcopy

import torch
import torch.nn.functional as F
from basicsr.archs import build_network
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from srddgan_arch.data.batch_degradation import build_batch_degradation
from srddgan_arch.diffusion import DiffusionSchedule, sample, untrained_schedule
from srddgan_arch.models.sample_validation import SampleValidationMixin
from srddgan_arch.models.srddgan_options import parse_model_options
from srddgan_arch.models.training_mixin import TrainingMixin
from srddgan_arch.models.training_steps import TrainingStepsMixin
from srddgan_arch.utils.checkpoint import load_checkpoint
from srddgan_arch.utils.padding import lr_multiple, pad_lr


@MODEL_REGISTRY.register()
class SRDDGANModel(TrainingMixin, TrainingStepsMixin, SampleValidationMixin, SRModel):
    """Super-resolution with a denoising diffusion GAN: G predicts y0 from (y_t, LR, t, z), D judges (y_{t-1}, y_t, t).

    ``parse_settings`` reads its sections (``DiffusionOptions``, ``TrainOptions``, ``ValOptions``,
    ``LRConsistencyOptions``, ``PathOptions``; ``network_g`` / ``network_d`` against their constructors); a data set
    with ``degrade_in_dataset: false`` is read through its section.

    Args:
        opt (dict): The parsed BasicSR options.
    """

    parse_settings = staticmethod(parse_model_options)  # how the run checks and __init__ read its sections

    def __init__(self, opt):
        settings = self.parse_settings(opt)
        self.train_settings, self.val_settings = settings.train, settings.val
        self.lr_consistency, self.path_settings = settings.lr_consistency, settings.path
        self.schedule = DiffusionSchedule(**dataclasses.asdict(settings.diffusion))
        super().__init__(opt)
        self.schedule = self.schedule.to(self.device)
        self.project = self.lr_consistency.projector(opt['scale'])
        self._warn_untrained_schedule()
        self.degrade = build_batch_degradation(self.opt, self.device)
        if self.device.type == 'cpu':
            # the R1 gradients and AdamW's second moments reach denormal floats, which slow x86 CPUs 10-100x
            torch.set_flush_denormal(True)

    # ------------------------------------------------------------------ set-up
    def _warn_untrained_schedule(self):
        """Warn when the diffusion section differs from the schedule recorded with ``path.pretrain_network_g``."""
        load_path = self.path_settings.pretrain_network_g
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
        # non-blocking: from a pinned batch (the data set's pin_memory: true) the copy overlaps the device's work
        self.lq = data['lq'].to(self.device, non_blocking=True)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device, non_blocking=True)
        # Real-ESRGAN's l1_gt_usm / percep_gt_usm: the pixel and content/style losses' own targets (else the gt)
        self.loss_targets = {name: data[name].to(self.device, non_blocking=True) * 2 - 1
                             for name in ('gt_pixel', 'gt_content_style') if name in data}

    def init_training_settings(self):
        """Build the EMA generator, the discriminator, the losses, the optimisers and the schedulers."""
        train = self.train_settings
        self.net_g.train()
        if train.compile:  # G alone: R1 needs D's double backward, which compiled graphs lack
            self.get_bare_model(self.net_g).compile()
        self._init_ema(train.ema_decay)
        self.net_d = self.model_to_device(build_network(deepcopy(self.opt['network_d'])))
        self.print_network(self.net_d)
        path = self.path_settings
        if path.pretrain_network_d is not None:
            self.load_network(self.net_d, path.pretrain_network_d, path.strict_load_d, path.param_key_d)
        self.net_d.train()

        self.gan_weight = train.gan_weight
        self.cri_content_style = self._build_loss(train.content_style_opt)
        self.cri_pix = self._build_loss(train.pixel_opt)
        self.r1_gamma = train.r1_gamma
        self.lazy_reg = train.lazy_reg
        self.d_steps_per_g_step = train.d_steps_per_g_step
        self.share_g_forward = train.share_g_forward
        self._init_steps(train)
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
        path = self.path_settings
        if path.pretrain_network_g is not None:
            self.load_network(self.net_g_ema, path.pretrain_network_g, path.strict_load_g, 'params_ema')
        else:
            self.model_ema(0)
        self.net_g_ema.eval()

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
        ``d_steps_per_g_step`` iterations. With ``share_g_forward`` the G step takes the D step's t, y_t, z and G's
        output (one G forward fewer, as BasicSR's ESRGAN model does). Steps with a non-finite loss or gradient are
        skipped and counted; after SIGTERM or SIGUSR1 the iteration's checkpoint is saved and the run exits.

        Args:
            current_iter (int): Current iteration (1-based).
        """
        y0, x = self.gt * 2 - 1, self.lq * 2 - 1
        g_step = current_iter % self.d_steps_per_g_step == 0
        shared = self.share_g_forward and g_step
        t, y_prev, y_t = self._noisy_pair(y0)
        with torch.set_grad_enabled(shared):
            y0_fake = self._generate(y_t, x, t)
        stepped = self._d_step(y_prev, y_t, t, y0_fake.detach(), x,
                               apply_r1=self.r1_gamma > 0 and current_iter % self.lazy_reg == 0)
        if g_step:
            g_stepped = self._g_step(y0, x, (y0_fake, y_t, t) if shared else self.predict_y0(y0, x))
            stepped = stepped & g_stepped
            if self.ema_decay > 0:
                self.model_ema(self.ema_decay, stepped=g_stepped)
        self._count_nonfinite(stepped, current_iter)
        self.stop_if_preempted(current_iter)

    def _noisy_pair(self, y0):
        """t ~ U{1, ..., T} (one per image) and the real pair: y_{t-1} ~ q(y_{t-1} | y0), y_t ~ q(y_t | y_{t-1})."""
        t = torch.randint(1, self.schedule.num_timesteps + 1, (y0.size(0), ), device=self.device)
        return (t, *self.schedule.q_sample_pairs(y0, t))

    def _generate(self, y_t, x, t):
        """y0' = G(y_t, x, t, z) (float32) with a fresh z ~ N(0, I) per image."""
        z = torch.randn(y_t.size(0), self.get_bare_model(self.net_g).z_dim, device=self.device)
        with self._autocast():
            return self.net_g(y_t, x, t, z).float()

    def _d_step(self, y_prev, y_t, t, y0_fake, x, apply_r1):
        """D step: softplus(-D(real pair)) (+ R1 on the real y_{t-1}, in the same backward) + softplus(D(fake pair)),
        the fake y_{t-1} drawn from the posterior given G's y0_fake; True (0-dim tensor) if D stepped."""
        self.net_d.requires_grad_(True)
        self.optimizer_d.zero_grad(set_to_none=True)
        y_prev.requires_grad_(apply_r1)
        with self._autocast():
            d_real = self.net_d(y_prev, y_t, t, lq=x).float()
        l_d_real = F.softplus(-d_real).mean()
        losses = [l_d_real]
        if apply_r1:
            losses.append(self._r1_penalty(d_real, y_prev))
            self.log_dict.update(self.reduce_loss_dict(OrderedDict(l_d_r1=losses[-1])))
        self.scaler_d.scale(sum(losses)).backward()

        with torch.no_grad():
            y_fake_prev = self.schedule.sample_posterior(y0_fake, y_t, t)
        with self._autocast():
            d_fake = self.net_d(y_fake_prev, y_t, t, lq=x).float()
        l_d_fake = F.softplus(d_fake).mean()
        self.scaler_d.scale(l_d_fake).backward()
        losses.append(l_d_fake)

        self.log_dict.update(self.reduce_loss_dict(OrderedDict(l_d_real=l_d_real, l_d_fake=l_d_fake,
                                                               out_d_real=d_real.mean(), out_d_fake=d_fake.mean())))
        return self._apply_step(self.optimizer_d, self.net_d, self.scaler_d, losses)

    def _r1_penalty(self, d_real, y_prev):
        """R1 penalty (DDGAN): r1_gamma / 2 * E ||grad_{y_{t-1}} D(y_{t-1}, y_t, t)||^2 on the real y_{t-1}.

        Applied every ``lazy_reg`` D steps, unscaled (as DDGAN does).
        """
        outputs = self.scaler_d.scale(d_real.sum())
        grad = torch.autograd.grad(outputs, y_prev, create_graph=True)[0]
        if self.scaler_d.is_enabled():  # (the scale as a tensor: get_scale() reads it back to the host)
            grad = grad / self.scaler_d.scale(torch.ones((), device=grad.device))
        return self.r1_gamma / 2 * grad.float().pow(2).flatten(1).sum(1).mean()

    def _g_step(self, y0, x, prediction):
        """G step: alpha * softplus(-D(fake pair)) + content + style (+ pixel) on G's ``prediction`` (y0', y_t, t);
        True (0-dim tensor) if G stepped."""
        self.net_d.requires_grad_(False)
        self.optimizer_g.zero_grad(set_to_none=True)
        y0_pred, y_t, t = prediction
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
        t, _, y_t = self._noisy_pair(y0)
        return self._generate(y_t, x, t), y_t, t

    def generator_losses(self, y0_pred, y0, y_t, t, x):
        """The weighted terms of G's loss (Eq. 22) for a prediction y0' of y0 from y_t.

        Args:
            y0_pred (Tensor): G's prediction y0' (B, C, H, W) in [-1, 1], float32.
            y0 (Tensor): The HR images in [-1, 1] (the losses' target, unless ``feed_data`` set ``loss_targets``).
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
        targets = getattr(self, 'loss_targets', {})
        if self.cri_content_style is not None:
            l_content, l_style = self.cri_content_style(y0_pred, targets.get('gt_content_style', y0))
            loss_dict.update({k: v for k, v in (('l_g_content', l_content), ('l_g_style', l_style)) if v is not None})
        if self.cri_pix is not None:
            loss_dict['l_g_pix'] = self.cri_pix(y0_pred, targets.get('gt_pixel', y0))
        return loss_dict

    # ------------------------------------------------------------------ sampling (Algorithm 2)
    def test(self):
        """Draw ``val.num_samples`` SR images per LR image with the T-step sampler (EMA generator when present), each
        as ``srddgan-infer`` draws it: sample k is the image ``srddgan-infer --seed <val.seed + k>`` gives (without
        tiles), so srddgan-test, srddgan-infer and scripts/benchmark_quality.py score the same images.

        An LR image of any size is padded (``utils/padding.py``: replicated to the multiple the U-Net needs),
        sampled with z and the noise drawn from a ``torch.Generator`` seeded with val.seed + k (the global generator
        when val.seed is null), and cropped to ``scale`` x its size. With ``lr_consistency.downsampler`` set, every
        prediction is projected onto the LR-consistent images, and the cropped output once more onto those of the
        unpadded LR image. Sets ``self.samples`` (list of tensors in [0, 1]; with ``val.reduce`` 'mean' their mean
        alone) and ``self.output`` (the first sample).
        """
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        seed, scale = self.val_settings.seed, self.opt['scale']
        height, width = self.lq.shape[2:]
        lq = pad_lr(self.lq, lr_multiple(self.get_bare_model(net), scale)) * 2 - 1
        self.samples = []
        for k in range(self.val_settings.num_samples):
            rng = None if seed is None else torch.Generator(device=self.device).manual_seed(seed + k)
            z = torch.randn(lq.size(0), net.z_dim, generator=rng, device=self.device)
            sr = sample(net, lq, self.schedule, z=z, noise_generator=rng, project=self.project)
            sr = ((sr.float() + 1) / 2)[..., :height * scale, :width * scale].clamp(0, 1)
            if self.project is not None:  # consistent with the LR image itself, not its padded copy
                sr = self.project(sr, self.lq.float(), value_range=(0, 1)).clamp(0, 1)
            self.samples.append(sr)
        if self.val_settings.reduce == 'mean':  # (before tensor2img's rounding: the mean stays LR-consistent)
            self.samples = [torch.stack(self.samples).mean(dim=0)]
        net.train(was_training)
        self.output = self.samples[0]

    # ------------------------------------------------------------------ checkpoints
    def save(self, epoch, current_iter):
        """Save G (``params``) with its EMA (``params_ema``) and the diffusion schedule (``diffusion``), D, then the
        training state (optimisers, schedulers, iteration), so that a training state always refers to complete network
        files; first the checks of the skipped steps (``max_nonfinite_steps``) and of the weights."""
        self.check_before_saving(current_iter, [getattr(self, name) for name in ('net_g', 'net_d', 'net_g_ema')
                                                if hasattr(self, name)])
        schedule = {'diffusion': self.schedule.settings()}  # inference checks it samples with G's training schedule
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'],
                              extra=schedule)
        else:
            self.save_network(self.net_g, 'net_g', current_iter, extra=schedule)
        self.save_network(self.net_d, 'net_d', current_iter)
        self.save_training_state(epoch, current_iter)
