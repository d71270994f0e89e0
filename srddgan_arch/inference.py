"""Inference on any photo: image IO in every mode, seamless tiling, the ``SRDDGANer`` upsampler, face mode and fusion.

``SRDDGANer`` follows Real-ESRGAN's ``RealESRGANer``: it wraps a BasicSR network (SRDDGAN, whose output is sampled
with ``srddgan_arch.diffusion.sample``, or any plain SR network such as RRDBNet), splits large images into
overlapping tiles and blends them with linear ramps, so that neither memory nor seams depend on the image size.
``main()`` is the ``srddgan-infer`` command (also ``scripts/inference_srddgan.py``).
"""
import argparse
import contextlib
import glob
import json
import math
import os
from os import path as osp
from typing import NamedTuple

import cv2
import numpy as np
import torch
import yaml
from tqdm import tqdm

from srddgan_arch.data.image_io import IMAGE_EXTENSIONS, decode_image, read_bytes, to_uint8
from srddgan_arch.device import default_device
from srddgan_arch.diffusion import DiffusionSchedule, sample

PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
# file names facexlib's FaceRestoreHelper loads at construction (the parser is loaded even when it is not used)
FACE_DETECTOR_FILES = {
    'retinaface_resnet50': 'detection_Resnet50_Final.pth',
    'retinaface_mobile0.25': 'detection_mobilenet0.25_Final.pth',
}
FACE_PARSER_FILE = 'parsing_parsenet.pth'


class LoadedImage(NamedTuple):
    """An image read by :func:`read_image`.

    Args:
        img (ndarray): Colour image, float32 (H, W, 3), BGR, in [0, 1].
        alpha (ndarray | None): Alpha channel, float32 (H, W) in [0, 1], or None.
        gray (bool): The file was single-channel: write it back as grayscale.
        max_value (int): 255 for 8-bit files, 65535 for 16-bit ones.
    """

    img: np.ndarray
    alpha: np.ndarray | None
    gray: bool
    max_value: int


def read_image(path):
    """Read an 8- or 16-bit grayscale, BGR or BGRA image file (decoded by ``image_io.decode_image``).

    Args:
        path (str): Image file.

    Returns:
        LoadedImage: The colour image in [0, 1] and what is needed to write the result in the same mode.
    """
    img, conversion, alpha = decode_image(read_bytes(path), path, keep_alpha=True)
    kinds = (conversion or '').split('+')
    return LoadedImage(img, alpha, 'grayscale' in kinds, 65535 if '16-bit' in kinds else 255)


def write_image(path, img, alpha=None, gray=False, max_value=255):
    """Write a float image in the mode it was read in (see :func:`read_image`), creating the folder.

    Args:
        path (str): Output file. 16-bit and alpha need a format that stores them (png, tif).
        img (ndarray): Colour image, float (H, W, 3), BGR, in [0, 1].
        alpha (ndarray | None): Alpha channel (H, W) in [0, 1]. Default: None.
        gray (bool): Write a single-channel image. Default: False.
        max_value (int): 255 (uint8) or 65535 (uint16). Default: 255.
    """
    if gray:
        img = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_BGR2GRAY)
    if alpha is not None:
        img = np.concatenate([img, alpha[:, :, None]], axis=2)
    dtype = np.uint16 if max_value == 65535 else np.uint8
    out = (np.clip(img, 0, 1) * max_value).round().astype(dtype)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, out):
        raise OSError(f'Cannot write {path}: the format may not support {dtype.__name__} or {out.shape} images.')


def upscale_alpha(alpha, size):
    """Bicubic upscaling of an alpha channel to ``size`` = (width, height), clipped to [0, 1]."""
    return np.clip(cv2.resize(alpha, size, interpolation=cv2.INTER_CUBIC), 0, 1)


def _blend_ramp(length, overlap_before, overlap_after):
    """1-D blending weight of a tile: 1 inside, linear ramps across the overlaps with its neighbours.

    Over an overlap of L pixels the weight is 0 on the outer quarter (where the tile border disturbs the network),
    rises linearly over the middle half and is 1 on the inner quarter, so two neighbours' weights add up to 1.

    Args:
        length (int): Tile length in output pixels.
        overlap_before (int): Overlap with the previous tile in output pixels (0 at the image border).
        overlap_after (int): Overlap with the next tile in output pixels (0 at the image border).

    Returns:
        Tensor: Weights (length,).
    """
    position = torch.arange(length, dtype=torch.float32) + 0.5
    weight = torch.ones(length)
    if overlap_before:
        weight = weight * ((position - overlap_before / 4) / (overlap_before / 2)).clamp(0, 1)
    if overlap_after:
        weight = weight * ((length - position - overlap_after / 4) / (overlap_after / 2)).clamp(0, 1)
    return weight


def tile_upsample(upsample_fn, img, scale, tile=0, tile_pad=10, progress=False):
    """Upsample ``img`` tile by tile with overlaps of 2 * ``tile_pad`` LR pixels and seamless linear blending.

    Args:
        upsample_fn (callable): Maps an LR tensor (1, C, h, w) to its upsampled version (1, C', h * scale, w * scale).
        img (Tensor): LR images (B, C, H, W).
        scale (int): Upsampling factor of ``upsample_fn``.
        tile (int): Tile size in LR pixels (without padding); 0 upsamples the whole image at once. Default: 0.
        tile_pad (int): LR pixels of context added on each inner side of a tile. Default: 10.
        progress (bool): Show a progress bar over the tiles. Default: False.

    Returns:
        Tensor: The upsampled images (B, C', H * scale, W * scale), float32, on the CPU when tiled.
    """
    height, width = img.shape[2:]
    if tile <= 0 or (height <= tile and width <= tile):
        return upsample_fn(img).float()
    if tile_pad < 0:
        raise ValueError(f'tile_pad must be >= 0, got {tile_pad}.')
    overlap = 2 * tile_pad * scale
    out, weight_sum = None, torch.zeros(1, 1, height * scale, width * scale)
    boxes = [(y, x) for y in range(0, height, tile) for x in range(0, width, tile)]
    for y, x in tqdm(boxes, desc='tiles', unit='tile', disable=not progress, leave=False):
        top, left = max(y - tile_pad, 0), max(x - tile_pad, 0)
        bottom, right = min(y + tile + tile_pad, height), min(x + tile + tile_pad, width)
        tile_out = upsample_fn(img[:, :, top:bottom, left:right]).float().cpu()
        if out is None:
            out = torch.zeros(img.shape[0], tile_out.shape[1], height * scale, width * scale)
        ramp_y = _blend_ramp(tile_out.shape[2], overlap * (top > 0), overlap * (bottom < height))
        ramp_x = _blend_ramp(tile_out.shape[3], overlap * (left > 0), overlap * (right < width))
        weight = ramp_y[:, None] * ramp_x[None, :]
        region = (slice(None), slice(None), slice(top * scale, bottom * scale), slice(left * scale, right * scale))
        out[region] += tile_out * weight
        weight_sum[region] += weight
    return out / weight_sum.clamp(min=1e-8)


def load_option_file(path):
    """Read a BasicSR option file and return its ``network_g`` and ``diffusion`` sections.

    Args:
        path (str): YAML option file with a ``network_g`` section (``type`` and the network's keyword arguments) and,
            for SRDDGAN, an optional ``diffusion`` section (``num_timesteps``, ``beta_min``, ``beta_max``).

    Returns:
        tuple[dict, dict]: (network_g, diffusion); diffusion is empty when the file has none.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Option file {path} does not exist.')
    with open(path) as f:
        opt = yaml.safe_load(f) or {}
    if not isinstance(opt.get('network_g'), dict) or 'type' not in opt['network_g']:
        raise KeyError(f'{path}: expected a network_g section with a type key (the network definition).')
    return dict(opt['network_g']), dict(opt.get('diffusion') or {})


def build_network(network_opt, model_path=None, param_key='params_ema'):
    """Build a registered network from its option dict and load a BasicSR checkpoint.

    Args:
        network_opt (dict): ``type`` plus the network's keyword arguments (the ``network_g`` YAML section).
        model_path (str | None): BasicSR checkpoint (``.pth``). None keeps random weights (speed tests only).
            Default: None.
        param_key (str): Key of the weights in the checkpoint; falls back to ``params`` and to a bare state dict.
            Default: 'params_ema'.

    Returns:
        nn.Module: The network in eval mode, on the CPU.
    """
    from basicsr.archs import build_network as basicsr_build_network
    from basicsr.utils import get_root_logger

    net = basicsr_build_network(dict(network_opt))
    if model_path is not None:
        if not osp.isfile(model_path):
            raise FileNotFoundError(f'Model weights {model_path} do not exist (--model_path).')
        checkpoint = torch.load(model_path, map_location='cpu', weights_only=True)
        for key in (param_key, 'params_ema', 'params'):
            if isinstance(checkpoint, dict) and key in checkpoint:
                if key != param_key:
                    get_root_logger().warning(f'{model_path} has no {param_key!r} weights: using {key!r}.')
                checkpoint = checkpoint[key]
                break
        net.load_state_dict(checkpoint, strict=True)
    return net.eval()


def is_diffusion_network(net):
    """True for SRDDGAN-style generators (sampled by the diffusion), False for one-shot SR networks."""
    return hasattr(net, 'encode_lr') and hasattr(net, 'z_dim')


class SRDDGANer:
    """Upsampler for SRDDGAN and plain BasicSR SR networks, with tiling, precision and memory-format options.

    A diffusion generator is sampled with :func:`srddgan_arch.diffusion.sample` (LR encoder once per tile, T generator
    calls); its latent z is drawn once per image and shared by all tiles. A plain network maps LR [0, 1] to SR [0, 1].

    Args:
        net (nn.Module): The network (e.g. from :func:`build_network`).
        scale (int | None): Network scale. Default: None (the network's ``scale`` attribute).
        schedule (DiffusionSchedule | None): Diffusion schedule for diffusion generators. Default: None (T = 4).
        tile (int): Tile size in LR pixels, 0 for no tiling. Default: 0.
        tile_pad (int): LR pixels of overlap context on each inner side of a tile. Default: 10.
        precision (str): 'fp32', 'bf16' or 'fp16' (autocast). Default: 'fp32'.
        device (str | torch.device | None): Device. Default: None (cuda, mps or cpu).
        channels_last (bool): Run the network in channels-last memory format. Default: False.
        compile (bool): Wrap the network with ``torch.compile``. Default: False.
        lr_multiple (int | None): LR inputs are padded (replicate) to a multiple of this, for U-Nets that
            downsample. Default: None (from the network's ``divisor``, the HR multiple it needs, and the scale).
    """

    def __init__(self, net, scale=None, schedule=None, tile=0, tile_pad=10, precision='fp32', device=None,
                 channels_last=False, compile=False, lr_multiple=None):
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {sorted(PRECISIONS)}, got {precision!r}.')
        self.scale = scale or getattr(net, 'scale', None)
        if not isinstance(self.scale, int):
            raise ValueError('scale is needed: the network has no int "scale" attribute.')
        self.device = torch.device(device or default_device())
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.eval().to(self.device, memory_format=self.memory_format)
        self.diffusion = is_diffusion_network(net)
        self.schedule = (schedule or DiffusionSchedule()).to(self.device) if self.diffusion else None
        self.tile, self.tile_pad, self.precision = tile, tile_pad, precision
        divisor = getattr(net, 'divisor', 1)
        self.lr_multiple = lr_multiple or divisor // math.gcd(divisor, self.scale)
        self.model = torch.compile(self.net) if compile else self.net
        if self.diffusion and compile:
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
                out = (sample(self.model, lq * 2 - 1, self.schedule, z=z, noise_generator=rng).float() + 1) / 2
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
        return tile_upsample(lambda x: self._run(x, z, rng), lq, self.scale, self.tile, self.tile_pad,
                             progress=progress).cpu()

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


def upsample_image(upsampler, image, outscale=None, seed=None, progress=False):
    """Super-resolve a :class:`LoadedImage`: colour by the upsampler, alpha by bicubic, resized to ``outscale``.

    Args:
        upsampler (SRDDGANer): The upsampler.
        image (LoadedImage): Image from :func:`read_image`.
        outscale (float | None): Final scale; differs from the network's by a Lanczos resize. Default: None.
        seed (int | None): Sampling seed. Default: None.
        progress (bool): Progress bar over the tiles. Default: False.

    Returns:
        LoadedImage: The SR image in the same mode (gray, alpha, bit depth).
    """
    out = upsampler.enhance(image.img, seed=seed, progress=progress)
    height, width = image.img.shape[:2]
    if outscale is not None and outscale != upsampler.scale:
        size = (round(width * outscale), round(height * outscale))
        out = np.clip(cv2.resize(out, size, interpolation=cv2.INTER_LANCZOS4), 0, 1)
    alpha = None if image.alpha is None else upscale_alpha(image.alpha, (out.shape[1], out.shape[0]))
    return LoadedImage(out, alpha, image.gray, image.max_value)


def facexlib_weights_dir():
    """Folder where facexlib caches its detection and parsing weights (``<facexlib package>/weights``)."""
    import facexlib
    return osp.join(osp.dirname(osp.abspath(facexlib.__file__)), 'weights')


def build_face_helper(upscale_factor, face_size=128, det_model='retinaface_resnet50', model_rootpath=None,
                      device='cpu'):
    """facexlib's ``FaceRestoreHelper`` after checking that its weights exist (it would download them otherwise).

    Args:
        upscale_factor (float): Scale of the output relative to the input photo.
        face_size (int): Size of the aligned face crop (the face model's HR size). Default: 128.
        det_model (str): 'retinaface_resnet50' or 'retinaface_mobile0.25'. Default: 'retinaface_resnet50'.
        model_rootpath (str | None): Folder with the detection and parsing weights. Default: None (facexlib's).
        device (str): Device of the detector. Default: 'cpu'.

    Returns:
        FaceRestoreHelper: The helper.
    """
    from facexlib.utils.face_restoration_helper import FaceRestoreHelper
    if det_model not in FACE_DETECTOR_FILES:
        raise ValueError(f'face det_model must be one of {sorted(FACE_DETECTOR_FILES)}, got {det_model!r}.')
    root = model_rootpath or facexlib_weights_dir()
    needed = (FACE_DETECTOR_FILES[det_model], FACE_PARSER_FILE)
    missing = [name for name in needed if not osp.isfile(osp.join(root, name))]
    if missing:
        raise FileNotFoundError(
            f'Face mode needs facexlib weights {", ".join(missing)} in {root}: copy them there from facexlib\'s '
            'release page (v0.1.0 detection, v0.2.2 parsing) or pass their folder with --face_weights_dir.')
    return FaceRestoreHelper(upscale_factor, face_size=face_size, crop_ratio=(1, 1), det_model=det_model,
                             save_ext='png', use_parse=False, device=torch.device(device), model_rootpath=root)


def restore_faces(face_upsampler, helper, img, background=None, landmarks=None, seed=None):
    """Face mode: align each face, super-resolve its downscaled crop with the face model, paste it back.

    The aligned crop (``helper.face_size``) is downscaled by the face model's scale with MATLAB bicubic (the training
    degradation), super-resolved back to the crop size and pasted with facexlib's soft mask on the background.

    Args:
        face_upsampler (SRDDGANer): The face model (e.g. x8, 16 -> 128).
        helper (FaceRestoreHelper): From :func:`build_face_helper`.
        img (ndarray): Input photo, uint8 BGR (H, W, 3).
        background (ndarray | None): Upscaled background, uint8 BGR at the output size. Default: None (Lanczos).
        landmarks (list | None): Five (x, y) landmarks per face (eyes, nose, mouth corners); None runs the detector.
            Default: None.
        seed (int | None): Sampling seed. Default: None.

    Returns:
        tuple[ndarray, int]: The restored photo (uint8 BGR) and the number of faces.
    """
    from basicsr.utils.matlab_functions import imresize
    helper.clean_all()
    helper.read_image(img)
    if landmarks is None:
        helper.get_face_landmarks_5(only_center_face=False, eye_dist_threshold=5)
    else:
        helper.all_landmarks_5 = [np.asarray(points, dtype=np.float32).reshape(5, 2) for points in landmarks]
    helper.align_warp_face()
    for face in helper.cropped_faces:
        lq = imresize(face.astype(np.float32) / 255, 1 / face_upsampler.scale)
        restored = face_upsampler.enhance(np.clip(lq, 0, 1), seed=seed)
        helper.add_restored_face(to_uint8(restored))
    helper.get_inverse_affine()
    return helper.paste_faces_to_input_image(upsample_img=background), len(helper.cropped_faces)


def content_fusion(upsampler, source, target, box, num_samples=4, seed=0):
    """Content fusion (paper "Extensions"): paste a region of ``target`` into ``source``, downscale, super-resolve.

    Args:
        upsampler (SRDDGANer): The SR model.
        source (ndarray): HR image, float BGR (H, W, 3) in [0, 1]; H and W are cropped to multiples of the scale.
        target (ndarray): HR image of the same size, the region's donor.
        box (tuple[int]): Region (x, y, w, h) in HR pixels.
        num_samples (int): Number of SR samples (z draws). Default: 4.
        seed (int): Seed of the first sample; sample i uses seed + i. Default: 0.

    Returns:
        dict: ``composite`` (HR input), ``lq`` (its bicubic downscale), ``samples`` (SR images) and ``fused``
        (source with the region taken from each sample), all float BGR in [0, 1].
    """
    from basicsr.utils.matlab_functions import imresize
    if source.shape != target.shape:
        raise ValueError(f'source and target must have the same size, got {source.shape} and {target.shape}.')
    scale = upsampler.scale
    height, width = source.shape[0] // scale * scale, source.shape[1] // scale * scale
    x, y, w, h = box
    if not (0 <= x < x + w <= width and 0 <= y < y + h <= height):
        raise ValueError(f'box (x, y, w, h) = {tuple(box)} is not inside the {width}x{height} image.')
    source, target = source[:height, :width], target[:height, :width]
    composite = source.copy()
    composite[y:y + h, x:x + w] = target[y:y + h, x:x + w]
    lq = np.clip(imresize(composite, 1 / scale), 0, 1)
    samples = [upsampler.enhance(lq, seed=seed + i) for i in range(num_samples)]
    fused = []
    for sr in samples:
        image = source.copy()
        image[y:y + h, x:x + w] = sr[y:y + h, x:x + w]
        fused.append(image)
    return dict(composite=composite, lq=lq, samples=samples, fused=fused)


def list_images(path):
    """The image files of a folder (sorted), or ``[path]`` for a file."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'Input {path} is neither an image file nor a folder.')
    return sorted(p for p in glob.glob(osp.join(path, '*')) if p.lower().endswith(IMAGE_EXTENSIONS))


def output_path(input_path, output_dir, suffix, ext, needs_png, sample_index=None):
    """Output file name ``<name>_<suffix>[_<i>].<ext>``; png when 16-bit or alpha need it and ext is 'auto'."""
    name, input_ext = osp.splitext(osp.basename(input_path))
    if ext == 'auto':
        ext = 'png' if needs_png else input_ext[1:]
    stem = f'{name}_{suffix}' if suffix else name
    if sample_index is not None:
        stem = f'{stem}_{sample_index}'
    return osp.join(output_dir, f'{stem}.{ext}')


def build_upsampler(opt, model_path=None, param_key='params_ema', steps=None, tile=0, tile_pad=10, precision='fp32',
                    device=None, channels_last=False, compile=False):
    """An :class:`SRDDGANer` from a network definition and its weights, with the runtime settings.

    Args:
        opt (str | dict): Option file with ``network_g`` (and ``diffusion``) sections, or a ``network_g`` dict
            (default diffusion schedule).
        model_path (str | None): BasicSR checkpoint; None keeps random weights (speed tests). Default: None.
        param_key (str): Key of the weights in the checkpoint. Default: 'params_ema'.
        steps (int | None): Diffusion steps T. Default: None (the option file's value).
        tile, tile_pad, precision, device, channels_last, compile: As in :class:`SRDDGANer`.

    Returns:
        SRDDGANer: The upsampler; diffusion networks get the schedule, plain networks none.
    """
    network_opt, diffusion_opt = load_option_file(opt) if isinstance(opt, str) else (dict(opt), {})
    net = build_network(network_opt, model_path, param_key)
    if steps is not None:
        diffusion_opt['num_timesteps'] = steps
    schedule = DiffusionSchedule(**diffusion_opt) if is_diffusion_network(net) else None
    return SRDDGANer(net, schedule=schedule, tile=tile, tile_pad=tile_pad, precision=precision, device=device,
                     channels_last=channels_last, compile=compile)


def parse_args(argv=None):
    """Command-line arguments of ``srddgan-infer`` (Real-ESRGAN's ``inference_realesrgan.py`` conventions)."""
    parser = argparse.ArgumentParser(description='SRDDGAN inference on image files or folders.')
    parser.add_argument('-i', '--input', required=True, help='Input image or folder.')
    parser.add_argument('-o', '--output', default='results', help='Output folder. Default: results.')
    parser.add_argument('-opt', '--opt', help='Option file (YAML) with network_g (and diffusion) sections.')
    parser.add_argument('--model_path', help='Model weights (BasicSR checkpoint).')
    parser.add_argument('--param_key', default='params_ema', help='Checkpoint key. Default: params_ema.')
    parser.add_argument('-s', '--outscale', type=float, help='Final upsampling scale. Default: the model scale.')
    parser.add_argument('--num_samples', type=int, default=1, help='SR samples per image (z draws). Default: 1.')
    parser.add_argument('--seed', type=int, default=0, help='Seed of sample 0; sample i uses seed + i. Default: 0.')
    parser.add_argument('--steps', type=int, help='Diffusion steps T. Default: the option file (trained) value.')
    parser.add_argument('-t', '--tile', type=int, default=0, help='Tile size in LR pixels, 0: no tiling. Default: 0.')
    parser.add_argument('--tile_pad', type=int, default=10, help='Tile overlap context in LR pixels. Default: 10.')
    precision = parser.add_mutually_exclusive_group()
    for name in PRECISIONS:
        precision.add_argument(f'--{name}', dest='precision', action='store_const', const=name,
                               help=f'Compute in {name}' + (' (autocast).' if name != 'fp32' else ' (default).'))
    parser.set_defaults(precision='fp32')
    parser.add_argument('--device', choices=['cuda', 'cpu', 'mps'], help='Device. Default: cuda, mps or cpu.')
    parser.add_argument('--channels_last', action='store_true', help='Channels-last memory format.')
    parser.add_argument('--compile', action='store_true', help='torch.compile the network.')
    parser.add_argument('--suffix', default='srddgan', help='Suffix of the output names. Default: srddgan.')
    parser.add_argument('--ext', default='auto', help='Output extension; auto keeps the input one (png for '
                        '16-bit or alpha). Default: auto.')
    parser.add_argument('--face', action='store_true', help='Face mode: restore aligned faces with the face model.')
    parser.add_argument('--face_opt', help='Face mode: option file of the face model (e.g. x8).')
    parser.add_argument('--face_model_path', help='Face mode: face model weights.')
    parser.add_argument('--face_size', type=int, default=128, help='Face mode: aligned crop size. Default: 128.')
    parser.add_argument('--face_det_model', default='retinaface_resnet50', choices=sorted(FACE_DETECTOR_FILES))
    parser.add_argument('--face_weights_dir', help="Face mode: facexlib weights folder. Default: facexlib's cache.")
    parser.add_argument('--face_landmarks', help='Face mode: JSON {image file name: [[5 x [x, y]] per face]} '
                        'instead of the detector.')
    args = parser.parse_args(argv)
    error = _argument_error(args)
    if error:
        parser.error(error)
    return args


def _argument_error(args):
    """What is wrong with a combination of ``srddgan-infer`` arguments, or None."""
    if args.face and not (args.face_opt and args.face_model_path):
        return '--face needs --face_opt and --face_model_path (the face model).'
    if not args.face and not (args.opt and args.model_path):
        return '-opt and --model_path are required (the network definition and its weights).'
    if bool(args.opt) != bool(args.model_path):
        return '-opt and --model_path go together.'
    if args.num_samples < 1:
        return '--num_samples must be >= 1.'
    return None


def _process_face(args, face_upsampler, helper, bg_upsampler, landmarks, path, image, seed):
    """Face mode for one image: background (model or Lanczos), then the faces; returns a LoadedImage."""
    background = None
    if bg_upsampler is not None:
        background = to_uint8(upsample_image(bg_upsampler, image, args.outscale, seed).img)
    restored, _ = restore_faces(face_upsampler, helper, to_uint8(image.img), background,
                                landmarks.get(osp.basename(path)) if landmarks else None, seed)
    out = restored.astype(np.float32) / 255
    alpha = None if image.alpha is None else upscale_alpha(image.alpha, (out.shape[1], out.shape[0]))
    return LoadedImage(out, alpha, image.gray, image.max_value)


def main(argv=None):
    """``srddgan-infer``: super-resolve an image or a folder; see ``--help``."""
    args = parse_args(argv)
    args.device = args.device or default_device()
    inputs = list_images(args.input)
    if not inputs:
        raise FileNotFoundError(f'No images ({", ".join(IMAGE_EXTENSIONS)}) in {args.input}.')
    input_paths = {osp.realpath(p) for p in inputs}
    runtime = dict(param_key=args.param_key, steps=args.steps, tile=args.tile, tile_pad=args.tile_pad,
                   precision=args.precision, device=args.device, channels_last=args.channels_last, compile=args.compile)
    upsampler = build_upsampler(args.opt, args.model_path, **runtime) if args.opt else None
    face_upsampler = helper = landmarks = None
    if args.face:
        face_upsampler = build_upsampler(args.face_opt, args.face_model_path, **runtime)
        outscale = args.outscale or (upsampler.scale if upsampler else face_upsampler.scale)
        args.outscale = outscale
        helper = build_face_helper(outscale, args.face_size, args.face_det_model, args.face_weights_dir, args.device)
        if args.face_landmarks:
            with open(args.face_landmarks) as f:
                landmarks = json.load(f)
    for path in tqdm(inputs, desc='images', unit='img'):
        image = read_image(path)
        needs_png = image.max_value == 65535 or image.alpha is not None
        for index in range(args.num_samples):
            seed = args.seed + index
            target = output_path(path, args.output, args.suffix, args.ext, needs_png,
                                 index if args.num_samples > 1 else None)
            if osp.realpath(target) in input_paths:
                raise FileExistsError(f'Refusing to overwrite the input {target}: choose another -o or --suffix.')
            if args.face:
                result = _process_face(args, face_upsampler, helper, upsampler, landmarks, path, image, seed)
            else:
                result = upsample_image(upsampler, image, args.outscale, seed, progress=upsampler.tile > 0)
            write_image(target, *result)
    return 0
