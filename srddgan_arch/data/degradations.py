"""Complex degradation (paper "Diverse forms of degradation", after BSRGAN): X_LR = (I * k) down_s + n.

Blur (isotropic / anisotropic Gaussian kernels, optionally BasicSR's generalized and plateau kernels and the sinc
filter), down-sampling (nearest / bilinear / bicubic) and noise (camera sensor noise, Gaussian or Poisson noise; JPEG)
are applied in a random order. Down-sampling always happens once, to exactly (h / scale, w / scale), and keeps pixel
centres aligned: an HR coordinate c lands at (c + 0.5) / scale - 0.5 in the LR for every mode (nearest is shifted
back as BSRGAN does); the other stages happen with their probability.

Two paths with the same options: ``degrade_image`` on one numpy image (data-loader workers, CPU) and
``degrade_batch`` on a batch tensor on its device (as Real-ESRGAN does on the GPU, e.g. in a model's ``feed_data``).
Both draw from the global ``random``/``numpy``(/``torch``) generators, which BasicSR seeds (``manual_seed`` and the
data-loader ``worker_init_fn``); ``rng_scope`` fixes them for a block, e.g. for a fixed validation set.
"""
import contextlib
import math
import random

import cv2
import numpy as np
import torch
from basicsr.data.degradations import (
    circular_lowpass_kernel,
    random_add_gaussian_noise,
    random_add_gaussian_noise_pt,
    random_add_poisson_noise,
    random_add_poisson_noise_pt,
    random_mixed_kernels,
)
from basicsr.utils import DiffJPEG
from torch.nn import functional as F

from srddgan_arch.data.camera_noise import add_camera_noise_pt
from srddgan_arch.data.image_io import to_uint8
from srddgan_arch.options.ranges import PROBABILITY, check_choices, check_ranges
from srddgan_arch.options.schema import OptionError, Section, option, section
from srddgan_arch.utils.img_process_util import filter2D

STAGES = ('blur', 'resize', 'noise', 'jpeg')
# BasicSR's random_mixed_kernels: Gaussian, generalized Gaussian (shape betag) and plateau (shape betap) kernels
KERNEL_TYPES = ('iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso')
CV2_INTERPOLATION = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}


@section('degradation')
class DegradationOptions(Section):
    """Probabilities and ranges of the complex degradation (a data set's ``degradation`` section)."""

    scale: int = option(4, "Down-sampling factor; in a data set, the data set's scale.", inherit=True, gt=0)
    shuffle_prob: float = option(1.0, 'Probability of a random stage order (else blur, resize, noise, jpeg).',
                                 **PROBABILITY)
    blur_prob: float = option(1.0, 'Probability of the blur stage.', **PROBABILITY)
    kernel_list: tuple = option(('iso', 'aniso'), f'Kernel types among {", ".join(KERNEL_TYPES)} (BasicSR\'s); the '
                                "paper's two by default.")
    kernel_prob: tuple = option((0.5, 0.5), 'Probability of each kernel type.')
    blur_kernel_size: int = option(21, 'Odd kernel side.', ge=3)
    blur_sigma: tuple = option((0.2, 3.0), "Range of the Gaussian sigma (both axes for 'aniso'), in pixels.")
    betag_range: tuple = option((0.5, 4.0), 'Shape range of the generalized Gaussian kernels (Real-ESRGAN).')
    betap_range: tuple = option((1.0, 2.0), 'Shape range of the plateau kernels (Real-ESRGAN).')
    sinc_prob: float = option(0.0, "Probability that the blur is a sinc (circular low-pass) filter, its cut-off drawn "
                              'as Real-ESRGAN does.', **PROBABILITY)
    resize_modes: tuple = option(tuple(CV2_INTERPOLATION), f'Down-sampling modes among {", ".join(CV2_INTERPOLATION)}.')
    resize_prob: tuple = option((1 / 3, 1 / 3, 1 / 3), 'Probability of each mode.')
    noise_prob: float = option(1.0, 'Probability of the noise stage.', **PROBABILITY)
    camera_noise_prob: float = option(0.5, 'In the noise stage, camera sensor noise (camera_noise.py) with this '
                                      'probability, else Gaussian or Poisson noise.', **PROBABILITY)
    gaussian_noise_prob: float = option(0.5, 'Otherwise Gaussian noise with this probability, else Poisson.',
                                        **PROBABILITY)
    noise_range: tuple = option((1.0, 30.0), 'Gaussian sigma range, in 0-255 units.')
    poisson_scale_range: tuple = option((0.05, 3.0), 'Poisson noise scale range.')
    gray_noise_prob: float = option(0.4, 'Probability of the same noise on all channels.', **PROBABILITY)
    jpeg_prob: float = option(0.9, 'Probability of the JPEG stage.', **PROBABILITY)
    jpeg_range: tuple = option((30.0, 95.0), 'JPEG quality range (0-100).')
    camera_shot_range: tuple = option((0.0001, 0.012), 'Shot-noise factor range, drawn log-uniformly (Brooks et al.).')
    camera_read_fit: tuple = option((2.18, 1.2, 0.26), 'Slope, intercept, std of log(read noise) given log(shot) '
                                    '(Brooks et al.).')
    camera_red_gain: tuple = option((1.9, 2.4), 'Red white-balance gain range (Brooks et al.).')
    camera_blue_gain: tuple = option((1.5, 1.9), 'Blue white-balance gain range (Brooks et al.).')

    def validate(self, key):
        """Choices with one probability each, ranges [low, high], an odd kernel side, the camera model's ranges."""
        check_choices(key, 'kernel_list', self.kernel_list, 'kernel_prob', self.kernel_prob, KERNEL_TYPES)
        check_choices(key, 'resize_modes', self.resize_modes, 'resize_prob', self.resize_prob,
                       tuple(CV2_INTERPOLATION))
        check_ranges(key, self, ('blur_sigma', 'betag_range', 'betap_range', 'noise_range', 'poisson_scale_range',
                                 'jpeg_range', 'camera_red_gain', 'camera_blue_gain'))
        if self.blur_sigma[0] <= 0 or self.blur_sigma[0] == self.blur_sigma[1]:
            raise OptionError(f'{key("blur_sigma")} needs 0 < low < high, got {list(self.blur_sigma)}.')
        if self.blur_kernel_size % 2 == 0:
            raise OptionError(f'{key("blur_kernel_size")} must be odd and >= 3, got {self.blur_kernel_size}.')
        if len(self.camera_shot_range) != 2 or not 0 < self.camera_shot_range[0] <= self.camera_shot_range[1] < 1:
            raise OptionError(f'{key("camera_shot_range")} must be [low, high] with 0 < low <= high < 1, got '
                              f'{list(self.camera_shot_range)}.')
        if len(self.camera_read_fit) != 3 or self.camera_read_fit[2] < 0:
            raise OptionError(f'{key("camera_read_fit")} must be [slope, intercept, std >= 0], got '
                              f'{list(self.camera_read_fit)}.')


@contextlib.contextmanager
def rng_scope(seed):
    """Seed python's, numpy's and torch's (CPU) global generators for a block, then restore their states.

    Args:
        seed (int): The seed.
    """
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def sample_stages(options):
    """The stages to apply, in order: 'resize' always, the others with their probability.

    Args:
        options (DegradationOptions): The options.

    Returns:
        list[str]: Stage names from ``STAGES``.
    """
    probs = {'blur': options.blur_prob, 'resize': 1.0, 'noise': options.noise_prob, 'jpeg': options.jpeg_prob}
    stages = [stage for stage in STAGES if np.random.uniform() < probs[stage]]
    if np.random.uniform() < options.shuffle_prob:
        random.shuffle(stages)
    return stages


def sample_kernel(options):
    """One blur kernel: a sinc filter with ``sinc_prob`` (cut-off as Real-ESRGAN draws it for the kernel size), else
    one of ``kernel_list`` (BasicSR's ``random_mixed_kernels``).

    Args:
        options (DegradationOptions): The options.

    Returns:
        ndarray: float32 kernel, (blur_kernel_size, blur_kernel_size), summing to 1.
    """
    size = options.blur_kernel_size
    if np.random.uniform() < options.sinc_prob:
        omega_c = np.random.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi)
        return circular_lowpass_kernel(omega_c, size, pad_to=False).astype(np.float32)
    return random_mixed_kernels(list(options.kernel_list), list(options.kernel_prob), size, options.blur_sigma,
                                options.blur_sigma, (-math.pi, math.pi), options.betag_range,
                                options.betap_range).astype(np.float32)


def block_centres(img, scale, axes):
    """Nearest down-sampling aligned with the HR, as BSRGAN does it: the image shifted by (scale - 1) / 2 pixels, then
    every scale-th pixel (plain nearest keeps each block's first pixel: a shift of (scale - 1) / 2 HR pixels). That is
    the centre of each block: its centre pixel at odd scales, the mean of its two central pixels per axis at even ones
    (the samples non-antialiased bilinear takes at integer scales).

    Args:
        img (ndarray | Tensor): Image or batch; its sides along ``axes`` divisible by ``scale``.
        scale (int): Down-sampling factor.
        axes (tuple[int]): The two spatial axes: (0, 1) for HWC, (-2, -1) for BCHW.

    Returns:
        ndarray | Tensor: The down-sampled image, same type.
    """
    def every(img, axis, start):
        return img[(slice(None), ) * (axis % img.ndim) + (slice(start, None, scale), )]
    for axis in axes:
        half = (scale - 1) // 2
        img = every(img, axis, half) if scale % 2 else (every(img, axis, half) + every(img, axis, half + 1)) / 2
    return img


def _sample_resize_mode(options):
    return random.choices(options.resize_modes, options.resize_prob)[0]


def _sample_jpeg_quality(options):
    return int(round(np.random.uniform(*options.jpeg_range)))


def _camera_noise(img, options):
    """Camera sensor noise on an RGB batch tensor (``camera_noise.py``) with the options' ranges."""
    return add_camera_noise_pt(img, options.camera_shot_range, options.camera_read_fit, options.camera_red_gain,
                               options.camera_blue_gain)


def _image_noise(img, options):
    if np.random.uniform() < options.camera_noise_prob:
        rgb = torch.from_numpy(np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1)))[None]
        return _camera_noise(rgb, options)[0].numpy().transpose(1, 2, 0)[..., ::-1]
    if np.random.uniform() < options.gaussian_noise_prob:
        return random_add_gaussian_noise(img, options.noise_range, options.gray_noise_prob, clip=True)
    return random_add_poisson_noise(img, options.poisson_scale_range, options.gray_noise_prob, clip=True)


def _image_jpeg(img, quality):
    _, encoded = cv2.imencode('.jpg', to_uint8(img), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR).astype(np.float32) / 255.


def degrade_image(img, options):
    """Degrade one HR image on the CPU.

    Args:
        img (ndarray): BGR float32 HR image in [0, 1], (h, w, 3), h and w divisible by ``options.scale``.
        options (DegradationOptions): The options.

    Returns:
        ndarray: BGR float32 LR image, (h / scale, w / scale, 3), rounded to 8-bit levels.
    """
    h, w = img.shape[:2]
    if h % options.scale or w % options.scale:
        raise ValueError(f'HR size {h}x{w} is not divisible by the scale {options.scale}.')
    out = img
    for stage in sample_stages(options):
        if stage == 'blur':
            out = cv2.filter2D(out, -1, sample_kernel(options), borderType=cv2.BORDER_REFLECT_101)
        elif stage == 'resize':
            mode = _sample_resize_mode(options)
            if mode == 'nearest':
                out = block_centres(out, options.scale, (0, 1))
            else:
                out = cv2.resize(out, (w // options.scale, h // options.scale), interpolation=CV2_INTERPOLATION[mode])
        elif stage == 'noise':
            out = _image_noise(out, options)
        else:
            out = _image_jpeg(out, _sample_jpeg_quality(options))
    return to_uint8(out).astype(np.float32) / 255.


def _batch_noise(out, options):
    if np.random.uniform() < options.camera_noise_prob:
        return _camera_noise(out, options)
    if np.random.uniform() < options.gaussian_noise_prob:
        return random_add_gaussian_noise_pt(out, options.noise_range, options.gray_noise_prob, clip=True)
    return random_add_poisson_noise_pt(out, options.poisson_scale_range, options.gray_noise_prob, clip=True)


def _fit_kernels(kernels, side):
    """Centre-crop (and renormalise) kernels wider than ``2 * side - 1``: reflect padding needs pad < side."""
    k = min(kernels.size(-1), 2 * side - 1)
    if k == kernels.size(-1):
        return kernels
    trim = (kernels.size(-1) - k) // 2
    kernels = kernels[:, trim:trim + k, trim:trim + k]
    return kernels / kernels.sum(dim=(1, 2), keepdim=True)


def degrade_batch(gt, options, jpeger=None):
    """Degrade a batch on its device (GPU or CPU). Stage order, resize mode and noise type are drawn per batch;
    kernels, noise levels and JPEG qualities per image.

    Args:
        gt (Tensor): RGB HR batch in [0, 1], (b, 3, h, w), h and w divisible by ``options.scale``.
        options (DegradationOptions): The options.
        jpeger (DiffJPEG | None): BasicSR's ``DiffJPEG(differentiable=False)`` on ``gt``'s device; made when None.

    Returns:
        Tensor: RGB LR batch, (b, 3, h / scale, w / scale), rounded to 8-bit levels.
    """
    b, _, h, w = gt.shape
    if h % options.scale or w % options.scale:
        raise ValueError(f'HR size {h}x{w} is not divisible by the scale {options.scale}.')
    out = gt
    for stage in sample_stages(options):
        if stage == 'blur':
            kernels = torch.from_numpy(np.stack([sample_kernel(options) for _ in range(b)])).to(gt)
            out = filter2D(out, _fit_kernels(kernels, min(out.shape[-2:])))
        elif stage == 'resize':
            mode = _sample_resize_mode(options)
            if mode == 'nearest':
                out = block_centres(out, options.scale, (-2, -1))
            else:
                out = F.interpolate(out, size=(h // options.scale, w // options.scale), mode=mode)
        elif stage == 'noise':
            out = _batch_noise(out, options)
        else:
            jpeger = jpeger if jpeger is not None else DiffJPEG(differentiable=False).to(gt.device)
            quality = torch.tensor([_sample_jpeg_quality(options) for _ in range(b)], dtype=gt.dtype, device=gt.device)
            out = jpeger(out.clamp(0, 1), quality=quality)
    return (out.clamp(0, 1) * 255.).round() / 255.
