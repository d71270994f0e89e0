"""The ``SRDDGANer`` upsampler and how to build it from an option file, a checkpoint and the inference settings.

``SRDDGANer`` follows Real-ESRGAN's ``RealESRGANer``: it wraps a BasicSR network (SRDDGAN, whose output is sampled
with ``srddgan_arch.diffusion.sample``, or any plain SR network such as RRDBNet) and upsamples large images in
overlapping tiles (``tiling.py``), so that neither memory nor seams depend on the image size.
"""
import contextlib
import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from srddgan_arch.color_fix import color_fix
from srddgan_arch.data.image_io import in_mode_of
from srddgan_arch.device import default_device
from srddgan_arch.diffusion import DiffusionOptions, DiffusionSchedule, sample, untrained_schedule
from srddgan_arch.inference.loading import is_diffusion_network, load_option_file, load_trained_network
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.settings import PRECISIONS, ModelChoice, RunSettings, split_changes
from srddgan_arch.inference.tiling import tile_upsample
from srddgan_arch.lr_consistency import LRConsistencyOptions
from srddgan_arch.utils.padding import lr_multiple as network_lr_multiple
from srddgan_arch.utils.padding import pad_lr


class SRDDGANer:
    """Upsampler for SRDDGAN and plain BasicSR SR networks, with tiling, precision and memory-format options.

    A diffusion generator is sampled with :func:`srddgan_arch.diffusion.sample` (LR encoder once per tile, T generator
    calls); its latent z is drawn once per image and shared by all tiles. A plain network maps LR [0, 1] to SR [0, 1].
    With ``lr_consistency``, a diffusion generator's every prediction is projected onto the LR-consistent images
    (per tile), and the whole output of any network is projected once more against the whole LR image, so tiles
    and their blending keep the result consistent (up to the final clamp to [0, 1] at saturated pixels).

    Args:
        net (nn.Module): The network (e.g. from :func:`build_network`).
        settings (RunSettings | None): How it runs: tile, tile_pad, precision, device, channels_last, compile.
            Default: None (the defaults).
        scale (int | None): Network scale. Default: None (the network's ``scale`` attribute).
        schedule (DiffusionSchedule | None): Diffusion schedule for diffusion generators. Default: None (the
            ``diffusion`` section's defaults).
        lr_multiple (int | None): LR inputs are padded (replicate) to a multiple of this, for U-Nets that
            downsample. Default: None (from the network's ``divisor``, the HR multiple it needs, and the scale).
        lr_consistency (LRConsistencyOptions | None): LR-consistent output; None or downsampler 'none': off.
            Default: None.
        color_fix (str): The output's colours from the upsampled LR (``srddgan_arch.color_fix``): 'none',
            'wavelet' or 'adain'; not with the LR projection (it ties the output to the LR already). Default: 'none'.
        changes: Run settings changed by keyword (``tile=64``); None keeps the setting.
    """

    def __init__(self, net, settings=None, *, scale=None, schedule=None, lr_multiple=None, lr_consistency=None,
                 color_fix='none', **changes):
        self.settings = (settings or RunSettings()).updated(**changes)
        self.scale = scale or getattr(net, 'scale', None)
        if not isinstance(self.scale, int):
            raise ValueError('scale is needed: the network has no int "scale" attribute.')
        self.device = torch.device(self.settings.device or default_device())
        self.memory_format = torch.channels_last if self.settings.channels_last else torch.contiguous_format
        self.net = net.eval().to(self.device, memory_format=self.memory_format)
        self.diffusion = is_diffusion_network(net)
        self.schedule = (schedule or DiffusionSchedule()).to(self.device) if self.diffusion else None
        self.tile, self.tile_pad, self.precision = self.settings.tile, self.settings.tile_pad, self.settings.precision
        self.lr_multiple = lr_multiple or network_lr_multiple(net, self.scale)
        self.lr_consistency = lr_consistency or LRConsistencyOptions()
        self.project = self.lr_consistency.projector(self.scale)
        if color_fix != 'none' and self.project is not None:
            raise ValueError(f'color_fix {color_fix} is for samplers without the LR projection, and this one projects '
                             f'onto the LR ({self.lr_consistency.downsampler}): give lr_consistency none '
                             '(--lr_consistency none) or color_fix none.')
        self.color_fix = color_fix
        self.model = torch.compile(self.net) if self.settings.compile else self.net
        if self.diffusion and self.settings.compile:
            for attribute in ('encode_lr', 'z_dim', 'scale', 'out_channels'):
                setattr(self.model, attribute, getattr(self.net, attribute))

    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        return torch.autocast(self.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def _run(self, lq, z, rng):
        """Upsample one LR tensor (B, C, h, w) in [0, 1] to [0, 1], padding it to ``lr_multiple``."""
        height, width = lq.shape[2:]
        lq = pad_lr(lq.to(self.device), self.lr_multiple).contiguous(memory_format=self.memory_format)
        with torch.no_grad(), self._autocast():
            if self.diffusion:
                out = sample(self.model, lq * 2 - 1, self.schedule, z=z, noise_generator=rng, project=self.project)
                out = (out.float() + 1) / 2
            else:
                out = self.model(lq).float()
        return out[:, :, :height * self.scale, :width * self.scale].clamp(0, 1)

    def upsample_tensor(self, lq, seed=None, progress=False):
        """Super-resolve LR images (B, C, H, W) in [0, 1]; z is drawn once per image and shared by its tiles.

        Args:
            lq (Tensor): LR images in [0, 1].
            seed (int | None): Seed of z, y_T and the posterior noise (same seed, same image). Default: None.
            progress (bool): Progress bar over the tiles. Default: False.

        Returns:
            Tensor: SR images (B, C, H * scale, W * scale) in [0, 1], float32, on the CPU.
        """
        rng = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        z = None
        if self.diffusion:
            z = torch.randn(lq.shape[0], self.net.z_dim, generator=rng, device=self.device)
        out = tile_upsample(lambda x: self._run(x, z, rng), lq, self.scale, self.tile, self.tile_pad,
                            progress=progress)
        if self.project is not None:  # where the output is: the model's device when made whole, the CPU when tiled
            out = self.project(out, lq.float().to(out.device), value_range=(0, 1)).clamp(0, 1)
        return color_fix(out, lq.float(), self.color_fix).cpu()

    def enhance(self, img, seed=None, progress=False):
        """Super-resolve a float BGR image (H, W, 3) in [0, 1]; returns the BGR SR image in [0, 1], float32.

        Args:
            img (ndarray): LR image, BGR, float in [0, 1].
            seed (int | None): Sampling seed. Default: None.
            progress (bool): Progress bar over the tiles. Default: False.
        """
        lq = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))).float()[None]
        out = self.upsample_tensor(lq, seed=seed, progress=progress)[0]
        return np.ascontiguousarray(out.numpy().transpose(1, 2, 0)[:, :, ::-1])


def mean_of_samples(upsampler, img, seeds, progress=False):
    """The mean of the samples of ``seeds`` (``--reduce mean``), computed before any rounding. The mean of
    LR-consistent samples is LR-consistent (those images form an affine set); as their number grows it tends to the
    posterior mean: a higher PSNR, a smoother image.

    Args:
        upsampler (SRDDGANer): The upsampler (or any object with its ``enhance``).
        img (ndarray): LR image, BGR, float in [0, 1].
        seeds (Sequence[int]): One seed per sample.
        progress (bool): Progress bar over the tiles. Default: False.

    Returns:
        ndarray: The mean SR image, BGR, float32 in [0, 1].
    """
    if not seeds:
        raise ValueError('mean_of_samples needs at least one seed.')
    total = None
    for seed in seeds:
        out = upsampler.enhance(img, seed=seed, progress=progress)
        total = out.astype(np.float64) if total is None else total + out
    return (total / len(seeds)).astype(np.float32)


def upsample_image(upsampler, image, outscale=None, seed=None, progress=False):
    """Super-resolve a :class:`DecodedImage`: colour by the upsampler, alpha by bicubic, resized to ``outscale``.

    Args:
        upsampler (SRDDGANer): The upsampler.
        image (DecodedImage): Image from ``image_io.read_image``.
        outscale (float | None): Final scale; differs from the network's by a Lanczos resize. Default: None.
        seed (int | Sequence[int] | None): Sampling seed; several: the mean of their samples (``mean_of_samples``).
            Default: None.
        progress (bool): Progress bar over the tiles. Default: False.

    Returns:
        DecodedImage: The SR image in the same mode (gray, alpha, bit depth).
    """
    out = mean_of_samples(upsampler, image.img, seed if isinstance(seed, Sequence) else [seed], progress)
    if not np.isfinite(out).all():  # (the weights are checked when loaded: an input or a precision overflowed)
        raise ValueError(f'the output holds NaN or inf (precision {upsampler.precision}; try --fp32); nothing '
                         'written.')
    height, width = image.img.shape[:2]
    if outscale is not None and outscale != upsampler.scale:
        size = (round(width * outscale), round(height * outscale))
        if min(size) < 1:
            raise ValueError(f'-s {outscale}: a {width}x{height} image would become {size[0]}x{size[1]} pixels; '
                             'give a larger -s.')
        out = np.clip(cv2.resize(out, size, interpolation=cv2.INTER_LANCZOS4), 0, 1)
    return in_mode_of(image, out)


def build_upsampler(opt, model_path=None, run=None, model=None, **changes):
    """An :class:`SRDDGANer` from a network definition, its weights and what is chosen for it.

    A diffusion generator samples with the schedule it was trained with: the one its checkpoint records (srddgan's
    checkpoints do), else the option file's. Another schedule (``steps``, or an option file that differs from the
    checkpoint) feeds G noise levels and steps it never saw: refused unless ``force_steps``, then a warning.

    Args:
        opt (str | dict): Option file with ``network_g`` (and ``diffusion``, ``lr_consistency``) sections, or a
            ``network_g`` dict (the default schedule, no LR consistency).
        model_path (str | None): BasicSR checkpoint, ``.safetensors`` file or an http(s) address of either; None
            keeps random weights (speed tests). Default: None.
        run (RunSettings | None): How the upsampler computes, handed to :class:`SRDDGANer`. Default: None (the
            defaults).
        model (ModelChoice | None): What is read from the checkpoint and how this model samples: param_key,
            interpolate, alpha, steps, force_steps, lr_consistency, color_fix. Default: None (the defaults).
        changes: Fields of either carrier changed by keyword (``steps=8``, ``tile=64``); None keeps the setting.

    Returns:
        SRDDGANer: The upsampler; diffusion networks get the schedule, plain networks none.
    """
    model_changes, run_changes = split_changes(changes)
    model = (model or ModelChoice()).updated(**model_changes)
    if isinstance(opt, str):
        network_opt, diffusion, consistency = load_option_file(opt)
    else:
        network_opt, diffusion, consistency = dict(opt), DiffusionOptions(), LRConsistencyOptions()
    consistency = consistency.updated(downsampler=model.lr_consistency)
    network = f'network_g of {opt}' if isinstance(opt, str) else 'network_g'
    net, trained = load_trained_network(network_opt, model_path, model.param_key, network,
                                        interpolate=model.interpolate, alpha=model.alpha)
    schedule = None
    if is_diffusion_network(net):
        if model_path is not None and trained is None:
            trained = dataclasses.asdict(diffusion)  # a checkpoint without a record: the option file's is trained
        schedule = DiffusionSchedule(**dataclasses.asdict(diffusion.updated(num_timesteps=model.steps)))
        _check_trained_schedule(schedule, trained, model.force_steps)
    return SRDDGANer(net, (run or RunSettings()).updated(**run_changes), schedule=schedule,
                     lr_consistency=consistency, color_fix=model.color_fix)


class TorchBackend:
    """``--backend torch``: :class:`SRDDGANer` (:func:`build_upsampler`), whose memory need the guard estimates."""

    def build(self, opt, model_path, model, run):
        """The upsampler of an option file and its weights, as the model choice reads them and the run settings run
        them (:func:`build_upsampler`'s arguments of the same names)."""
        return build_upsampler(opt, model_path, run, model)

    def memory_guard(self, upsampler, run):
        """The :class:`MemoryGuard` of an upsampler this backend built, within the run's ``max_memory``."""
        return MemoryGuard(upsampler, run.max_memory)


def _check_trained_schedule(schedule, trained, force):
    """Refuse a schedule other than the trained one, or with ``force`` warn about it."""
    from basicsr.utils import get_root_logger

    untrained = untrained_schedule(schedule, trained)
    if untrained is None:
        return
    message = (f'Sampling with {untrained}: the generator would see noise levels and steps it was not trained on, '
               'and its samples degrade.')
    if not force:
        raise ValueError(f'{message} Use the trained settings, or --force_steps (force_steps=True) to sample anyway.')
    get_root_logger().warning(message)
