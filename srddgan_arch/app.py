"""``srddgan-app``: a gradio web app to explore SRDDGAN's samples of an uploaded image: N samples beside the LR and
bicubic, a slider through them, and the per-pixel standard deviation across them (where the model is unsure).

Its settings are ``srddgan-infer``'s (scale, seed, samples, tiles, LR consistency, precision), built on the same
carriers (``ModelChoice``, ``RunSettings``) with the same checks and run by the same upsampler and memory guard: sample
i equals ``srddgan-infer --seed S`` 's sample i, and a mistake shows the command line's one-line message. ``--help``
works without gradio (the ``app`` extra).
"""
import argparse
import os
import sys
from typing import NamedTuple

import cv2
import numpy as np
import torch

from srddgan_arch.data.image_io import to_uint8
from srddgan_arch.device import device_error
from srddgan_arch.inference.arguments import OneLineParser, sampling_error
from srddgan_arch.inference.cli import _one_line, read_checked
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.settings import PRECISIONS, ModelChoice, RunSettings
from srddgan_arch.inference.upsampler import SRDDGANer, build_upsampler, upsample_image
from srddgan_arch.lr_consistency import DOWNSAMPLERS, reference_upscale
from srddgan_arch.option_files import option_file_argument
from srddgan_arch.options import OptionError

PROG = 'srddgan-app'
INSTALL_HINT = 'pip install "srddgan[app]" (in a source checkout: pip install -c constraints-app.txt -e ".[app]")'
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
        run (RunSettings): Tiles and precision, on the app's device.
        seed (int): Seed of sample 0; sample i uses seed + i.
        num_samples (int): Samples to draw.
        outscale (float | None): Final scale; None: the model's.
        max_memory (float | None): Memory budget in GiB; None: the free memory.
    """

    input: str
    model: ModelChoice
    run: RunSettings
    seed: int
    num_samples: int
    outscale: float | None
    max_memory: float | None


def app_request(base, image_path, scale=None, seed=0, num_samples=4, tile=None, tile_pad=None, lr_consistency=None,
                precision=None, max_memory=None):
    """A :class:`Request` from the app's controls, checked by the rules of ``srddgan-infer``'s options of the same
    names (the same carriers and the same checks: the same one-line messages), on the app's device.

    Args:
        base (SRDDGANer): The upsampler built at start-up (its device is kept).
        image_path (str): The uploaded image.
        scale (float | None): ``-s``; None: the model's. Default: None.
        seed, num_samples, tile, tile_pad, lr_consistency, precision: As ``srddgan-infer``'s options of the same
            names; None: their defaults.
        max_memory (float | None): ``--max_memory`` in GiB; None: the free memory. Default: None.

    Returns:
        Request: The request.

    Raises:
        ValueError: One line naming the option, for a setting ``srddgan-infer`` refuses.
    """
    error = sampling_error(seed, num_samples, scale)
    if error is None and num_samples > MAX_SAMPLES:
        error = f'--num_samples must be at most {MAX_SAMPLES} in the app.'
    if error is None and max_memory is not None and not max_memory > 0:
        error = '--max_memory must be a positive number of GiB.'
    if error is not None:
        raise ValueError(error)
    try:
        model = ModelChoice().updated(lr_consistency=lr_consistency)
        run = RunSettings(device=str(base.device)).updated(tile=tile, tile_pad=tile_pad, precision=precision)
    except OptionError as error:  # a value out of its bounds, named as the option
        raise ValueError(f'--{error}') from None
    return Request(image_path, model, run, seed, num_samples, scale, max_memory)


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
    image = read_checked(request.input, MemoryGuard(upsampler, request.max_memory), request.outscale)
    samples = [_rgb(upsample_image(upsampler, image, request.outscale, seed).img)
               for seed in range(request.seed, request.seed + request.num_samples)]
    height, width = samples[0].shape[:2]
    lq = torch.from_numpy(np.ascontiguousarray(image.img.transpose(2, 0, 1)))[None]
    bicubic = reference_upscale(lq, base.scale, 'bicubic')[0].numpy().transpose(1, 2, 0)
    bicubic = np.clip(cv2.resize(bicubic, (width, height), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    lr = cv2.resize(image.img, (width, height), interpolation=cv2.INTER_NEAREST)
    return Exploration(_rgb(lr), _rgb(bicubic), samples, *heat_map(samples))


def _sample_callback(base, max_memory):
    """The Sample button's function: the request checked and explored; a mistake is gradio's error box showing
    ``srddgan-infer``'s one-line message."""
    import gradio as gr

    def run(image_path, scale, seed, num_samples, tile, tile_pad, lr_consistency, precision):
        if not image_path:
            raise gr.Error('Upload an image first.')
        try:
            request = app_request(base, image_path, scale or None, int(seed), int(num_samples), int(tile),
                                  int(tile_pad), lr_consistency, precision, max_memory)
            result = explore(base, request)
        except Exception as error:  # the command line's one-line message, in the page
            raise gr.Error(_one_line(error)) from None
        gallery = [(result.lr, 'LR (nearest)'), (result.bicubic, 'bicubic')]
        gallery += [(sample, f'sample {index + 1} (seed {request.seed + index})')
                    for index, sample in enumerate(result.samples)]
        count = len(result.samples)
        slider = gr.Slider(minimum=1, maximum=max(count, 2), value=1, step=1, interactive=count > 1)
        return (gallery, result.samples, slider, result.samples[0], result.std_map,
                f'Per-pixel standard deviation across the {count} samples: black 0, yellow {result.max_std:.1f} '
                '(0-255 scale).')

    return run


def build_app(base, opt, max_memory=None):
    """The gradio Blocks app around :func:`explore` (API name ``/explore``); its controls start at the defaults of
    ``srddgan-infer``'s options of the same names.

    Args:
        base (SRDDGANer): The upsampler built at start-up.
        opt (str): Its option file.
        max_memory (float | None): Memory budget in GiB of one request; None: the free memory. Default: None.

    Returns:
        gradio.Blocks: The app (``.launch()`` serves it).
    """
    import gradio as gr

    # png: gradio's default webp would be lossy, and the samples are what srddgan-infer writes
    with gr.Blocks(title='SRDDGAN samples') as app:
        gr.Markdown(f'# SRDDGAN: explore the samples\n`{os.path.basename(opt)}`, x{base.scale}. Each sample draws '
                    'another latent z: where the samples differ, the model is unsure.')
        with gr.Row():
            image = gr.Image(type='filepath', label='LR image', sources=['upload'], height=360, elem_id='lr_input')
            with gr.Column():
                controls = [
                    gr.Number(value=base.scale, label='scale (-s)', minimum=0),
                    gr.Number(value=0, precision=0, label='seed (sample i: seed + i)'),
                    gr.Slider(1, MAX_SAMPLES, value=4, step=1, label='samples'),
                    gr.Number(value=RunSettings.tile, precision=0, label='tile (LR pixels, 0: none)'),
                    gr.Number(value=RunSettings.tile_pad, precision=0, label='tile_pad'),
                    gr.Radio(list(DOWNSAMPLERS), value=base.lr_consistency.downsampler, label='LR consistency'),
                    gr.Radio(list(PRECISIONS), value=RunSettings.precision, label='precision')]
                button = gr.Button('Sample', variant='primary', elem_id='sample_button')
        gallery = gr.Gallery(label='LR, bicubic and the samples', columns=6, height=240, format='png',
                             elem_id='samples')
        samples = gr.State([])
        with gr.Row():
            with gr.Column():
                chooser = gr.Slider(1, 4, value=1, step=1, label='sample', elem_id='sample_slider')
                chosen = gr.Image(label='sample', format='png', height=360, elem_id='chosen_sample')
            with gr.Column():
                std_map = gr.Image(label='per-pixel standard deviation', format='png', height=360, elem_id='std_map')
                std_note = gr.Markdown(elem_id='std_note')
        button.click(_sample_callback(base, max_memory), [image, *controls],
                     [gallery, samples, chooser, chosen, std_map, std_note], api_name='explore')
        chooser.change(lambda values, index: values[int(index) - 1] if values else None, [samples, chooser], chosen,
                       api_name=False)
    return app


def parse_args(argv=None):
    """Command-line arguments of ``srddgan-app``."""
    parser = OneLineParser(prog=PROG, description=f'A web app to explore SRDDGAN samples. Needs gradio, the app '
                           f'extra: {INSTALL_HINT}.', formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('-opt', '--opt', required=True, type=option_file_argument,
                        help='Option file (YAML) with network_g (and diffusion, lr_consistency), or a packaged name.')
    parser.add_argument('--model_path', required=True, help='Model weights: a BasicSR checkpoint, .safetensors or '
                        'an http(s) address of either.')
    parser.add_argument('--param_key', default=ModelChoice.param_key, help='Checkpoint key.')
    parser.add_argument('--device', help='cpu, mps, cuda or cuda:N (default: cuda, mps or cpu).')
    parser.add_argument('--max_memory', type=float, help='Memory budget in GiB: images estimated to need more are '
                        'refused with the tile that fits (default: the free memory).')
    parser.add_argument('--host', default='127.0.0.1', help='Address to serve on.')
    parser.add_argument('--port', type=int, default=7860, help='Port to serve on.')
    args = parser.parse_args(argv)
    error = device_error(args.device)
    if error:
        parser.error(error)
    return args


def main(argv=None):
    """``srddgan-app``: serve the app until interrupted. Returns the exit code (1 on an error, one line on stderr)."""
    args = parse_args(argv)
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    try:
        import gradio  # noqa: F401
    except ImportError:
        print(f'{PROG}: error: the web app needs gradio, the app extra: {INSTALL_HINT}', file=sys.stderr)
        return 1
    try:
        base = build_upsampler(args.opt, args.model_path, param_key=args.param_key, device=args.device)
    except Exception as error:
        print(f'{PROG}: error: {_one_line(error)}', file=sys.stderr)
        return 1
    build_app(base, args.opt, args.max_memory).launch(server_name=args.host, server_port=args.port)
    return 0
