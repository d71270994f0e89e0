"""The ``SRDDGANer`` upsampler and how to build it from an option file and a checkpoint.

``SRDDGANer`` follows Real-ESRGAN's ``RealESRGANer``: it wraps a BasicSR network (SRDDGAN, whose output is sampled
with ``srddgan_arch.diffusion.sample``, or any plain SR network such as RRDBNet) and upsamples large images in
overlapping tiles (``tiling.py``), so that neither memory nor seams depend on the image size.
"""
import contextlib
import dataclasses
import math
from collections.abc import Sequence
from os import path as osp
from typing import NamedTuple

import cv2
import numpy as np
import torch

from srddgan_arch.data.image_io import in_mode_of
from srddgan_arch.device import default_device
from srddgan_arch.diffusion import DiffusionSchedule, sample, untrained_schedule
from srddgan_arch.inference.settings import PRECISIONS, InferenceSettings
from srddgan_arch.inference.tiling import tile_upsample
from srddgan_arch.option_files import load_yaml
from srddgan_arch.options import DiffusionOptions, LRConsistencyOptions
from srddgan_arch.utils.checkpoint import (
    CheckpointError,
    interpolate_weights,
    load_checkpoint,
    load_fitting_weights,
    state_dict_of,
)


class OptionFile(NamedTuple):
    """The sections of an option file that inference reads.

    Args:
        network_g (dict): ``type`` and the network's keyword arguments.
        diffusion (DiffusionOptions): The schedule (the defaults when the file has none).
        lr_consistency (LRConsistencyOptions): The sampler's LR consistency (off when the file has none).
    """

    network_g: dict
    diffusion: DiffusionOptions
    lr_consistency: LRConsistencyOptions


def load_option_file(path):
    """Read a BasicSR option file and return its ``network_g``, ``diffusion`` and ``lr_consistency`` sections.

    Args:
        path (str): YAML option file with a ``network_g`` section (``type`` and the network's keyword arguments) and,
            for SRDDGAN, optional ``diffusion`` and ``lr_consistency`` sections.

    Returns:
        OptionFile: The sections, checked.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Option file {path} does not exist.')
    opt = load_yaml(path) or {}
    if not isinstance(opt.get('network_g'), dict) or 'type' not in opt['network_g']:
        raise KeyError(f'{path}: expected a network_g section with a type key (the network definition).')
    return OptionFile(dict(opt['network_g']), DiffusionOptions.from_dict(opt.get('diffusion')),
                      LRConsistencyOptions.from_dict(opt.get('lr_consistency')))


def build_network(network_opt, model_path=None, param_key=InferenceSettings.param_key):
    """Build a registered network from its option dict and load a BasicSR checkpoint.

    Args:
        network_opt (dict): ``type`` plus the network's keyword arguments (the ``network_g`` YAML section).
        model_path (str | None): BasicSR checkpoint (``.pth``), ``.safetensors`` file (``srddgan-export``) or an
            http(s) address of either. None keeps random weights (speed tests only). Default: None.
        param_key (str): Key of the weights in the checkpoint; falls back to ``params`` and to a bare state dict.
            Default: ``InferenceSettings.param_key`` ('params_ema').

    Returns:
        nn.Module: The network in eval mode, on the CPU.
    """
    return load_trained_network(network_opt, model_path, param_key)[0]


def load_trained_network(network_opt, model_path, param_key=InferenceSettings.param_key, network='network_g',
                         interpolate=None, alpha=InferenceSettings.alpha):
    """``build_network``, and the diffusion schedule its checkpoint records (None when it records none); weights
    that do not fit the network or are not finite are refused naming ``model_path`` and ``network``. With
    ``interpolate`` (a second checkpoint of the same network), the weights are ``(1 - alpha) * model_path's + alpha *
    interpolate's``; the two must record the same schedule.

    Returns:
        tuple[nn.Module, dict | None]: The network and the recorded ``DiffusionSchedule.settings()``.
    """
    from basicsr.archs import build_network as basicsr_build_network

    net = basicsr_build_network(dict(network_opt))
    if model_path is None:
        return net.eval(), None
    checkpoint = load_checkpoint(model_path, what='Model weights (--model_path)')
    state = state_dict_of(checkpoint, param_key, model_path)
    if interpolate is not None:
        other = load_checkpoint(interpolate, what='Weights to interpolate (--interpolate)')
        if other.get('diffusion') != checkpoint.get('diffusion'):
            raise CheckpointError(f'{model_path} and {interpolate} cannot be interpolated: they were trained with '
                                  f'different diffusion schedules ({checkpoint.get("diffusion")} and '
                                  f'{other.get("diffusion")}).')
        state = interpolate_weights(state, state_dict_of(other, param_key, interpolate), alpha, model_path,
                                    interpolate)
        model_path = f'{model_path} interpolated with {interpolate} (alpha {alpha})'
    load_fitting_weights(net, state, model_path, network)
    return net.eval(), checkpoint.get('diffusion')


def is_diffusion_network(net):
    """True for SRDDGAN-style generators (sampled by the diffusion), False for one-shot SR networks."""
    return hasattr(net, 'encode_lr') and hasattr(net, 'z_dim')


class SRDDGANer:
    """Upsampler for SRDDGAN and plain BasicSR SR networks, with tiling, precision and memory-format options.

    A diffusion generator is sampled with :func:`srddgan_arch.diffusion.sample` (LR encoder once per tile, T generator
    calls); its latent z is drawn once per image and shared by all tiles. A plain network maps LR [0, 1] to SR [0, 1].
    With ``lr_consistency``, a diffusion generator's every prediction is projected onto the LR-consistent images
    (per tile), and the whole output of any network is projected once more against the whole LR image, so tiles
    and their blending keep the result consistent (up to the final clamp to [0, 1] at saturated pixels).

    Args:
        net (nn.Module): The network (e.g. from :func:`build_network`).
        settings (InferenceSettings | None): How it runs: tile, tile_pad, precision, device, channels_last, compile
            (the others are read by :func:`build_upsampler`). Default: None (the defaults).
        scale (int | None): Network scale. Default: None (the network's ``scale`` attribute).
        schedule (DiffusionSchedule | None): Diffusion schedule for diffusion generators. Default: None (the
            ``diffusion`` section's defaults).
        lr_multiple (int | None): LR inputs are padded (replicate) to a multiple of this, for U-Nets that
            downsample. Default: None (from the network's ``divisor``, the HR multiple it needs, and the scale).
        lr_consistency (LRConsistencyOptions | None): LR-consistent output; None or downsampler 'none': off.
            Default: None.
        changes: Settings changed by keyword (``tile=64``); None keeps the setting.
    """

    def __init__(self, net, settings=None, *, scale=None, schedule=None, lr_multiple=None, lr_consistency=None,
                 **changes):
        self.settings = (settings or InferenceSettings()).updated(**changes)
        self.scale = scale or getattr(net, 'scale', None)
        if not isinstance(self.scale, int):
            raise ValueError('scale is needed: the network has no int "scale" attribute.')
        self.device = torch.device(self.settings.device or default_device())
        self.memory_format = torch.channels_last if self.settings.channels_last else torch.contiguous_format
        self.net = net.eval().to(self.device, memory_format=self.memory_format)
        self.diffusion = is_diffusion_network(net)
        self.schedule = (schedule or DiffusionSchedule()).to(self.device) if self.diffusion else None
        self.tile, self.tile_pad, self.precision = self.settings.tile, self.settings.tile_pad, self.settings.precision
        divisor = getattr(net, 'divisor', 1)
        self.lr_multiple = lr_multiple or divisor // math.gcd(divisor, self.scale)
        self.lr_consistency = lr_consistency or LRConsistencyOptions()
        self.project = self.lr_consistency.projector(self.scale)
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
        pad_h, pad_w = (-height) % self.lr_multiple, (-width) % self.lr_multiple
        lq = lq.to(self.device)
        if pad_h or pad_w:
            lq = torch.nn.functional.pad(lq, (0, pad_w, 0, pad_h), mode='replicate')
        lq = lq.contiguous(memory_format=self.memory_format)
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
        return out.cpu()

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


def build_upsampler(opt, model_path=None, settings=None, **changes):
    """An :class:`SRDDGANer` from a network definition and its weights, with the runtime settings.

    A diffusion generator samples with the schedule it was trained with: the one its checkpoint records (srddgan's
    checkpoints do), else the option file's. Another schedule (``steps``, or an option file that differs from the
    checkpoint) feeds G noise levels and steps it never saw: refused unless ``force_steps``, then a warning.

    Args:
        opt (str | dict): Option file with ``network_g`` (and ``diffusion``, ``lr_consistency``) sections, or a
            ``network_g`` dict (the default schedule, no LR consistency).
        model_path (str | None): BasicSR checkpoint, ``.safetensors`` file or an http(s) address of either; None
            keeps random weights (speed tests). Default: None.
        settings (InferenceSettings | None): The runtime settings; ``param_key``, ``steps``, ``force_steps`` and
            ``lr_consistency`` are read here, the others by :class:`SRDDGANer`. Default: None (the defaults).
        changes: Settings changed by keyword (``steps=8``); None keeps the setting.

    Returns:
        SRDDGANer: The upsampler; diffusion networks get the schedule, plain networks none.
    """
    settings = (settings or InferenceSettings()).updated(**changes)
    if isinstance(opt, str):
        network_opt, diffusion, consistency = load_option_file(opt)
    else:
        network_opt, diffusion, consistency = dict(opt), DiffusionOptions(), LRConsistencyOptions()
    consistency = consistency.updated(downsampler=settings.lr_consistency)
    network = f'network_g of {opt}' if isinstance(opt, str) else 'network_g'
    net, trained = load_trained_network(network_opt, model_path, settings.param_key, network,
                                        interpolate=settings.interpolate, alpha=settings.alpha)
    schedule = None
    if is_diffusion_network(net):
        if model_path is not None and trained is None:
            trained = dataclasses.asdict(diffusion)  # a checkpoint without a record: the option file's is trained
        schedule = DiffusionSchedule(**dataclasses.asdict(diffusion.updated(num_timesteps=settings.steps)))
        _check_trained_schedule(schedule, trained, settings.force_steps)
    return SRDDGANer(net, settings, schedule=schedule, lr_consistency=consistency)


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
