"""``srddgan-app``: a gradio web app to explore SRDDGAN's samples of an uploaded image: N samples beside the LR and
bicubic, a slider through them, and the per-pixel standard deviation across them (where the model is unsure).

Its settings are ``srddgan-infer``'s (scale, seed, samples, tiles, LR consistency, precision), checked by the same
parser: a mistake shows the command line's one-line message. ``--help`` works without gradio (the ``app`` extra).
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

from srddgan_arch.data.image_io import decode_image, read_bytes, to_uint8
from srddgan_arch.inference.cli import OneLineParser, _one_line
from srddgan_arch.inference.cli import parse_args as parse_infer_args
from srddgan_arch.inference.upsampler import SRDDGANer, build_upsampler, upsample_image
from srddgan_arch.lr_consistency import DOWNSAMPLERS, reference_upscale

PROG = 'srddgan-app'
INSTALL_HINT = 'pip install "srddgan[app]" -c constraints-app.txt'


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


def settings_args(opt, model_path, image_path, scale=None, seed=0, num_samples=4, tile=0, tile_pad=10,
                  lr_consistency=None, precision='fp32'):
    """``srddgan-infer``'s arguments for the app's settings, checked by its parser.

    Returns:
        Namespace: The parsed arguments.

    Raises:
        ValueError: The parser's one-line message, for a setting it refuses.
    """
    argv = ['-i', image_path, '-opt', opt, '--model_path', model_path, '--seed', str(seed), '--num_samples',
            str(num_samples), '--tile', str(tile), '--tile_pad', str(tile_pad), f'--{precision}']
    argv += ['-s', str(scale)] if scale else []
    argv += ['--lr_consistency', lr_consistency] if lr_consistency else []
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return parse_infer_args(argv)
    except SystemExit:
        raise ValueError(stderr.getvalue().strip().removeprefix('srddgan-infer: error: ')) from None


def _heat_map(samples):
    """Inferno heat map of the per-pixel standard deviation across the samples (mean over channels) and its top."""
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
    image = decode_image(read_bytes(args.input), args.input)
    consistency = base.lr_consistency
    if args.lr_consistency is not None:
        consistency = type(consistency)(downsampler=args.lr_consistency, iterations=consistency.iterations)
    upsampler = SRDDGANer(base.net, schedule=base.schedule, tile=args.tile, tile_pad=args.tile_pad,
                          precision=args.precision, device=base.device, lr_consistency=consistency)
    samples = [cv2.cvtColor(to_uint8(upsample_image(upsampler, image, args.outscale, args.seed + index).img),
                            cv2.COLOR_BGR2RGB) for index in range(args.num_samples)]
    height, width = samples[0].shape[:2]
    lq = torch.from_numpy(np.ascontiguousarray(image.img[:, :, ::-1].transpose(2, 0, 1)))[None].float()
    bicubic = reference_upscale(lq, base.scale, 'bicubic')[0].numpy().transpose(1, 2, 0)
    bicubic = np.clip(cv2.resize(bicubic, (width, height), interpolation=cv2.INTER_LANCZOS4), 0, 1)
    lr = cv2.resize(to_uint8(image.img[:, :, ::-1].copy()), (width, height), interpolation=cv2.INTER_NEAREST)
    return Exploration(lr, to_uint8(bicubic), samples, *_heat_map(samples))


def build_app(base, opt, model_path):
    """The gradio Blocks app around :func:`explore` (API name ``/explore``).

    Args:
        base (SRDDGANer): The upsampler built at start-up.
        opt (str): Its option file.
        model_path (str): Its checkpoint.

    Returns:
        gradio.Blocks: The app (``.launch()`` serves it).
    """
    import gradio as gr

    def run(image_path, scale, seed, num_samples, tile, tile_pad, lr_consistency, precision):
        if not image_path:
            raise gr.Error('Upload an image first.')
        try:
            args = settings_args(opt, model_path, image_path, scale or None, int(seed), int(num_samples), int(tile),
                                 int(tile_pad), lr_consistency, precision)
            result = explore(base, args)
        except Exception as error:  # the command line's one-line message, in the page
            raise gr.Error(_one_line(error)) from None
        gallery = [(result.lr, 'LR (nearest)'), (result.bicubic, 'bicubic')]
        gallery += [(sample, f'sample {index + 1} (seed {args.seed + index})')
                    for index, sample in enumerate(result.samples)]
        slider = gr.Slider(minimum=1, maximum=len(result.samples), value=1, step=1, interactive=len(result.samples) > 1)
        return (gallery, result.samples, slider, result.samples[0], result.std_map,
                f'Per-pixel standard deviation across the {len(result.samples)} samples: black 0, yellow '
                f'{result.max_std:.1f} (0-255).')

    with gr.Blocks(title='SRDDGAN samples') as app:
        gr.Markdown(f'# SRDDGAN: explore the samples\n`{os.path.basename(opt)}`, x{base.scale}. Each sample draws '
                    'another latent z: where they differ, the model is unsure.')
        with gr.Row():
            image = gr.Image(type='filepath', label='LR image', sources=['upload'], elem_id='lr_input')
            with gr.Column():
                scale = gr.Number(value=base.scale, label='scale (-s)', minimum=0)
                seed = gr.Number(value=0, precision=0, label='seed (sample i: seed + i)')
                num_samples = gr.Slider(1, 16, value=4, step=1, label='samples')
                tile = gr.Number(value=0, precision=0, label='tile (LR pixels, 0: none)')
                tile_pad = gr.Number(value=10, precision=0, label='tile_pad')
                lr_consistency = gr.Radio(list(DOWNSAMPLERS), value=base.lr_consistency.downsampler,
                                          label='LR consistency')
                precision = gr.Radio(['fp32', 'bf16', 'fp16'], value='fp32', label='precision')
                button = gr.Button('Sample', variant='primary', elem_id='sample_button')
        gallery = gr.Gallery(label='LR, bicubic and the samples', columns=6, elem_id='samples')
        samples = gr.State([])
        with gr.Row():
            with gr.Column():
                chooser = gr.Slider(1, 4, value=1, step=1, label='sample', elem_id='sample_slider')
                chosen = gr.Image(label='sample', elem_id='chosen_sample')
            with gr.Column():
                std_map = gr.Image(label='per-pixel standard deviation', elem_id='std_map')
                std_note = gr.Markdown()
        button.click(run, [image, scale, seed, num_samples, tile, tile_pad, lr_consistency, precision],
                     [gallery, samples, chooser, chosen, std_map, std_note], api_name='explore')
        chooser.change(lambda values, index: values[int(index) - 1] if values else None, [samples, chooser], chosen,
                       api_name=False)
    return app


def parse_args(argv=None):
    """Command-line arguments of ``srddgan-app``."""
    parser = OneLineParser(prog=PROG, description='A web app to explore SRDDGAN samples (gradio: the app extra, '
                           f'{INSTALL_HINT}).', formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('-opt', '--opt', required=True, help='Option file (YAML) with network_g (and diffusion).')
    parser.add_argument('--model_path', required=True, help='Model weights (BasicSR checkpoint).')
    parser.add_argument('--param_key', default='params_ema', help='Checkpoint key.')
    parser.add_argument('--device', choices=['cuda', 'cpu', 'mps'], help='Device (default: cuda, mps or cpu).')
    parser.add_argument('--host', default='127.0.0.1', help='Address to serve on.')
    parser.add_argument('--port', type=int, default=7860, help='Port to serve on.')
    return parser.parse_args(argv)


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
    build_app(base, args.opt, args.model_path).launch(server_name=args.host, server_port=args.port)
    return 0
