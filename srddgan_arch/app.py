"""``srddgan-app``: a gradio web app to explore SRDDGAN's samples of an uploaded image: N samples beside the LR and
bicubic, a slider through them, and the per-pixel standard deviation across them (where the model is unsure).

Its settings are ``srddgan-infer``'s (scale, seed, samples, tiles, LR consistency, precision), checked by the same
parser and run by the same upsampler and memory guard: sample i equals ``srddgan-infer --seed S`` 's sample i, and a
mistake shows the command line's one-line message. ``--help`` works without gradio (the ``app`` extra).
"""
import argparse
import contextlib
import io
import os
import sys
from typing import NamedTuple

import cv2
import numpy as np
import torch

from srddgan_arch.cli_errors import OneLineParser, one_line, report
from srddgan_arch.data.image_io import to_uint8
from srddgan_arch.device import device_error
from srddgan_arch.inference.cli import parse_args as parse_infer_args
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.paths import read_checked
from srddgan_arch.inference.settings import PRECISIONS, InferenceSettings
from srddgan_arch.inference.upsampler import SRDDGANer, build_upsampler, upsample_image
from srddgan_arch.lr_consistency import DOWNSAMPLERS, reference_upscale
from srddgan_arch.option_files import option_file_argument

PROG = 'srddgan-app'
INSTALL_HINT = 'pip install "srddgan[app]" (in a source checkout: pip install --no-build-isolation -c ' \
               'constraints-app.txt -e ".[app]")'
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


def settings_args(base, opt, model_path, image_path, scale=None, seed=0, num_samples=4, tile=0, tile_pad=10,
                  lr_consistency=None, precision='fp32', max_memory=None):
    """``srddgan-infer``'s arguments for the app's settings, checked by its parser, on the app's device.

    Args:
        base (SRDDGANer): The upsampler built at start-up (its device is kept).
        opt (str): Its option file.
        model_path (str): Its checkpoint.
        image_path (str): The uploaded image.
        scale (float | None): ``-s``; None: the model's. Default: None.
        seed, num_samples, tile, tile_pad: As ``srddgan-infer``'s options of the same names.
        lr_consistency (str | None): ``--lr_consistency``; None: the option file's. Default: None.
        precision (str): fp32, bf16 or fp16. Default: fp32.
        max_memory (float | None): ``--max_memory`` in GiB; None: the free memory. Default: None.

    Returns:
        Namespace: The parsed arguments (``.settings``: the :class:`InferenceSettings`).

    Raises:
        ValueError: The parser's one-line message, for a setting it refuses.
    """
    argv = ['-i', image_path, '-opt', opt, '--model_path', model_path, '--seed', str(seed), '--num_samples',
            str(num_samples), '--tile', str(tile), '--tile_pad', str(tile_pad), f'--{precision}', '--device',
            str(base.device)]
    argv += ['-s', str(scale)] if scale else []
    argv += ['--lr_consistency', lr_consistency] if lr_consistency else []
    argv += ['--max_memory', str(max_memory)] if max_memory else []
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parse_infer_args(argv)
    except SystemExit:
        message = stderr.getvalue().strip().removeprefix('srddgan-infer: error: ').removesuffix(' (see --help)')
        raise ValueError(message) from None
    if args.num_samples > MAX_SAMPLES:
        raise ValueError(f'--num_samples must be at most {MAX_SAMPLES} in the app.')
    return args


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


def explore(base, args):
    """Sample an image as ``srddgan-infer`` would with ``args`` and gather what the app shows.

    Args:
        base (SRDDGANer): The upsampler built at start-up (its network and schedule are reused).
        args (Namespace): From :func:`settings_args`.

    Returns:
        Exploration: LR, bicubic, samples and their standard-deviation map.
    """
    consistency = base.lr_consistency.updated(downsampler=args.settings.lr_consistency)
    upsampler = SRDDGANer(base.net, args.settings, scale=base.scale, schedule=base.schedule,
                          lr_consistency=consistency)
    image = read_checked(args.input, MemoryGuard(upsampler, args.max_memory), args.outscale)
    samples = [_rgb(upsample_image(upsampler, image, args.outscale, seed).img)
               for seed in range(args.seed, args.seed + args.num_samples)]
    height, width = samples[0].shape[:2]
    lq = torch.from_numpy(np.ascontiguousarray(image.img.transpose(2, 0, 1)))[None]
    bicubic = reference_upscale(lq, base.scale, 'bicubic')[0].numpy().transpose(1, 2, 0)
    bicubic = np.clip(cv2.resize(bicubic, (width, height), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    lr = cv2.resize(image.img, (width, height), interpolation=cv2.INTER_NEAREST)
    return Exploration(_rgb(lr), _rgb(bicubic), samples, *heat_map(samples))


class RequestError(ValueError):
    """What the page shows for a request that fails: srddgan's one-line message."""


def request(base, opt, model_path, max_memory, image_path, scale, seed, num_samples, tile, tile_pad, lr_consistency,
            precision):
    """One press of the app's button: the settings checked by ``srddgan-infer``'s parser, the upload read as its
    inputs are (``read_checked``) and sampled.

    Args:
        base (SRDDGANer): The upsampler built at start-up.
        opt (str): Its option file.
        model_path (str): Its checkpoint.
        max_memory (float | None): Memory budget in GiB of one request; None: the free memory.
        image_path (str | None): The uploaded file; None before an upload.
        scale, seed, num_samples, tile, tile_pad, lr_consistency, precision: The page's settings (``settings_args``).

    Returns:
        tuple[Namespace, Exploration]: The arguments and what the page shows.

    Raises:
        RequestError: Anything that fails, as one line.
    """
    if not image_path:
        raise RequestError('Upload an image first.')
    try:
        args = settings_args(base, opt, model_path, image_path, scale or None, int(seed), int(num_samples), int(tile),
                             int(tile_pad), lr_consistency, precision, max_memory)
        return args, explore(base, args)
    except Exception as error:  # whatever fails, the page shows one line (the server log keeps nothing else)
        raise RequestError(one_line(error)) from None


def page_outputs(gr, seed, result):
    """The page's outputs of an :class:`Exploration`: gallery, samples, slider, first sample, heat map and its note.

    Args:
        gr (module): gradio.
        seed (int): The seed of sample 1.
        result (Exploration): From :func:`explore`.

    Returns:
        tuple: The outputs, in the order ``build_app`` wires them.
    """
    gallery = [(result.lr, 'LR (nearest)'), (result.bicubic, 'bicubic')]
    gallery += [(sample, f'sample {index + 1} (seed {seed + index})') for index, sample in enumerate(result.samples)]
    count = len(result.samples)
    slider = gr.Slider(minimum=1, maximum=max(count, 2), value=1, step=1, interactive=count > 1)
    return (gallery, result.samples, slider, result.samples[0], result.std_map,
            f'Per-pixel standard deviation across the {count} samples: black 0, yellow {result.max_std:.1f} '
            '(0-255 scale).')


def uploaded_image(gr):
    """gr.Image that hands the uploaded file over as it is: gr.Image's own preprocessing opens it with Pillow, and a
    file that is no image fails there with gradio's bare "Error" before srddgan can name it (``request``).

    Args:
        gr (module): gradio.

    Returns:
        type: The component class.
    """
    class UploadedImage(gr.Image):
        def preprocess(self, payload):
            return None if payload is None else str(payload.path)

    return UploadedImage


def build_app(base, opt, model_path, max_memory=None):
    """The gradio Blocks app around :func:`explore` (API name ``/explore``).

    Args:
        base (SRDDGANer): The upsampler built at start-up.
        opt (str): Its option file.
        model_path (str): Its checkpoint.
        max_memory (float | None): Memory budget in GiB of one request; None: the free memory. Default: None.

    Returns:
        gradio.Blocks: The app (``.launch()`` serves it).
    """
    import gradio as gr

    def run(image_path, scale, seed, num_samples, tile, tile_pad, lr_consistency, precision):
        try:
            args, result = request(base, opt, model_path, max_memory, image_path, scale, seed, num_samples, tile,
                                   tile_pad, lr_consistency, precision)
        except RequestError as error:  # the command line's one-line message, in the page
            raise gr.Error(str(error)) from None
        return page_outputs(gr, args.seed, result)

    settings = InferenceSettings()
    # png: gradio's default webp would be lossy, and the samples are what srddgan-infer writes
    with gr.Blocks(title='SRDDGAN samples') as app:
        gr.Markdown(f'# SRDDGAN: explore the samples\n`{os.path.basename(opt)}`, x{base.scale}. Each sample draws '
                    'another latent z: where the samples differ, the model is unsure.')
        with gr.Row():
            image = uploaded_image(gr)(type='filepath', label='LR image', sources=['upload'], height=360,
                                       elem_id='lr_input')
            with gr.Column():
                scale = gr.Number(value=base.scale, label='scale (-s)', minimum=0)
                seed = gr.Number(value=0, precision=0, label='seed (sample i: seed + i)')
                num_samples = gr.Slider(1, MAX_SAMPLES, value=4, step=1, label='samples')
                tile = gr.Number(value=settings.tile, precision=0, label='tile (LR pixels, 0: none)')
                tile_pad = gr.Number(value=settings.tile_pad, precision=0, label='tile_pad')
                lr_consistency = gr.Radio(list(DOWNSAMPLERS), value=base.lr_consistency.downsampler,
                                          label='LR consistency')
                precision = gr.Radio(list(PRECISIONS), value=settings.precision, label='precision')
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
        button.click(run, [image, scale, seed, num_samples, tile, tile_pad, lr_consistency, precision],
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
    parser.add_argument('--param_key', default=InferenceSettings.param_key, help='Checkpoint key.')
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
        report(PROG, error)
        return 1
    build_app(base, args.opt, args.model_path, args.max_memory).launch(server_name=args.host, server_port=args.port)
    return 0
