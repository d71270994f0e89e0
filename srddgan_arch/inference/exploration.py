"""What the web app (``srddgan-app``) does with one request: its settings checked as ``srddgan-infer`` checks its
command line (the same carriers, ``ModelChoice`` and ``RunSettings``, and the same checks), the upload read as the
command line reads its inputs, sampled by the same upsampler and memory guard, and what the page shows: the samples
beside the LR and bicubic, and the per-pixel standard deviation across them (where the model is unsure)."""
from typing import NamedTuple

import cv2
import numpy as np
import torch

from srddgan_arch.cli_errors import one_line
from srddgan_arch.data.image_io import to_uint8
from srddgan_arch.inference.arguments import sampling_error
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.paths import read_checked
from srddgan_arch.inference.settings import ModelChoice, RunSettings
from srddgan_arch.inference.upsampler import SRDDGANer, upsample_image
from srddgan_arch.lr_consistency import reference_upscale
from srddgan_arch.options import OptionError

# samples one request may ask for
MAX_SAMPLES = 16


class Exploration(NamedTuple):
    """What the app shows for one image, all RGB uint8 of the output size.

    Args:
        lr (ndarray): The LR input, nearest-neighbour upscaled.
        bicubic (ndarray): MATLAB-bicubic upscaling (the reference every SR model is compared with).
        samples (list[ndarray]): The SR samples, sample i drawn with seed + i.
        std_map (ndarray): Heat map of the per-pixel standard deviation across the samples (inferno colours).
        max_std (float): The largest standard deviation (0-255 scale), the heat map's top colour.
    """

    lr: np.ndarray
    bicubic: np.ndarray
    samples: list
    std_map: np.ndarray
    max_std: float


class Request(NamedTuple):
    """One request of the app, checked as ``srddgan-infer`` checks its command line (:func:`app_request`).

    Args:
        input (str): The uploaded image.
        model (ModelChoice): The model's choices the app offers (LR consistency).
        run (RunSettings): Tiles, precision and the memory budget, on the app's device.
        seed (int): Seed of sample 0; sample i uses seed + i.
        num_samples (int): Samples to draw.
        outscale (float | None): Final scale; None: the model's.
    """

    input: str
    model: ModelChoice
    run: RunSettings
    seed: int
    num_samples: int
    outscale: float | None


def app_request(base, image_path, scale=None, seed=0, num_samples=4, tile=None, tile_pad=None, lr_consistency=None,
                precision=None):
    """A :class:`Request` from the app's controls, checked by the rules of ``srddgan-infer``'s options of the same
    names (the same carriers and the same checks: the same one-line messages), on the app's device and within its
    memory budget (the run settings of ``base``).

    Args:
        base (SRDDGANer): The upsampler built at start-up (its run settings are the request's, but for the controls).
        image_path (str): The uploaded image.
        scale (float | None): ``-s``; None: the model's. Default: None.
        seed, num_samples, tile, tile_pad, lr_consistency, precision: As ``srddgan-infer``'s options of the same
            names; None: their defaults.

    Returns:
        Request: The request.

    Raises:
        ValueError: One line naming the option, for a setting ``srddgan-infer`` refuses.
    """
    error = sampling_error(seed, num_samples, scale)
    if error is None and num_samples > MAX_SAMPLES:
        error = f'--num_samples must be at most {MAX_SAMPLES} in the app.'
    if error is not None:
        raise ValueError(error)
    try:
        model = ModelChoice().updated(lr_consistency=lr_consistency)
        run = base.settings.updated(device=str(base.device), tile=tile, tile_pad=tile_pad, precision=precision)
    except OptionError as error:  # a value out of its bounds, named as the option
        raise ValueError(f'--{error}') from None
    return Request(image_path, model, run, seed, num_samples, scale)


def _rgb(img):
    """A BGR float image in [0, 1] as RGB uint8 for display."""
    return cv2.cvtColor(to_uint8(img), cv2.COLOR_BGR2RGB)


def heat_map(samples):
    """Inferno heat map of the per-pixel standard deviation across samples (mean over channels) and its top.

    Args:
        samples (list[ndarray]): uint8 images of one size.

    Returns:
        tuple[ndarray, float]: The RGB uint8 heat map (black: 0, yellow: the top) and the top (0-255 scale).
    """
    std = np.stack(samples).astype(np.float32).std(axis=0).mean(axis=2)
    top = float(std.max())
    level = np.round(std / top * 255).astype(np.uint8) if top > 0 else np.zeros(std.shape, np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB), top


def explore(base, request):
    """Sample an image as ``srddgan-infer`` would with the same settings and gather what the app shows.

    Args:
        base (SRDDGANer): The upsampler built at start-up (its network and schedule are reused).
        request (Request): From :func:`app_request`.

    Returns:
        Exploration: LR, bicubic, samples and their standard-deviation map.
    """
    consistency = base.lr_consistency.updated(downsampler=request.model.lr_consistency)
    upsampler = SRDDGANer(base.net, request.run, scale=base.scale, schedule=base.schedule,
                          lr_consistency=consistency)
    image = read_checked(request.input, MemoryGuard(upsampler, request.run.max_memory), request.outscale)
    samples = [_rgb(upsample_image(upsampler, image, request.outscale, seed).img)
               for seed in range(request.seed, request.seed + request.num_samples)]
    height, width = samples[0].shape[:2]
    lq = torch.from_numpy(np.ascontiguousarray(image.img.transpose(2, 0, 1)))[None]
    bicubic = reference_upscale(lq, base.scale, 'bicubic')[0].numpy().transpose(1, 2, 0)
    bicubic = np.clip(cv2.resize(bicubic, (width, height), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    lr = cv2.resize(image.img, (width, height), interpolation=cv2.INTER_NEAREST)
    return Exploration(_rgb(lr), _rgb(bicubic), samples, *heat_map(samples))


class RequestError(ValueError):
    """What the page shows for a request that fails: srddgan's one-line message."""


def request(base, image_path, scale, seed, num_samples, tile, tile_pad, lr_consistency, precision):
    """One press of the app's button: the settings checked as ``srddgan-infer`` checks them (:func:`app_request`), the
    upload read as its inputs are (``read_checked``) and sampled.

    Args:
        base (SRDDGANer): The upsampler built at start-up.
        image_path (str | None): The uploaded file; None before an upload.
        scale, seed, num_samples, tile, tile_pad, lr_consistency, precision: The page's settings.

    Returns:
        tuple[Request, Exploration]: The request and what the page shows.

    Raises:
        RequestError: Anything that fails, as one line.
    """
    if not image_path:
        raise RequestError('Upload an image first.')
    try:
        checked = app_request(base, image_path, scale or None, int(seed), int(num_samples), int(tile), int(tile_pad),
                              lr_consistency, precision)
        return checked, explore(base, checked)
    except Exception as error:  # whatever fails, the page shows one line (the server log keeps nothing else)
        raise RequestError(one_line(error)) from None
