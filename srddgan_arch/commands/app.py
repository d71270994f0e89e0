"""``srddgan-app``: a gradio web app to explore SRDDGAN's samples of an uploaded image: N samples beside the LR and
bicubic, a slider through them, and the per-pixel standard deviation across them (where the model is unsure).

Its settings are ``srddgan-infer``'s (scale, seed, samples, tiles, LR consistency, precision), checked and sampled as
the command line does (``inference/exploration.py``): sample i equals ``srddgan-infer --seed S`` 's sample i, and a
mistake shows the command line's one-line message. ``--help`` works without gradio (the ``app`` extra).
"""
import argparse
import os
import sys

from srddgan_arch.cli_errors import OneLineParser, report
from srddgan_arch.device import device_error
from srddgan_arch.inference.exploration import MAX_SAMPLES, RequestError, request
from srddgan_arch.inference.settings import PRECISIONS, ModelChoice, RunSettings
from srddgan_arch.inference.upsampler import TorchBackend
from srddgan_arch.lr_consistency import DOWNSAMPLERS
from srddgan_arch.option_files import option_file_argument
from srddgan_arch.options import OptionError

PROG = 'srddgan-app'
INSTALL_HINT = 'pip install "srddgan[app]" (in a source checkout: pip install -c constraints-app.txt -e ".[app]")'


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


def build_app(base, opt):
    """The gradio Blocks app around :func:`explore` (API name ``/explore``); its controls start at the defaults of
    ``srddgan-infer``'s options of the same names.

    Args:
        base (SRDDGANer): The upsampler built at start-up, with the app's run settings (device, memory budget).
        opt (str): Its option file.

    Returns:
        gradio.Blocks: The app (``.launch()`` serves it).
    """
    import gradio as gr

    def run(image_path, *settings):
        try:
            checked, result = request(base, image_path, *settings)
        except RequestError as error:  # the command line's one-line message, in the page
            raise gr.Error(str(error)) from None
        return page_outputs(gr, checked.seed, result)

    # png: gradio's default webp would be lossy, and the samples are what srddgan-infer writes
    with gr.Blocks(title='SRDDGAN samples') as app:
        gr.Markdown(f'# SRDDGAN: explore the samples\n`{os.path.basename(opt)}`, x{base.scale}. Each sample draws '
                    'another latent z: where the samples differ, the model is unsure.')
        with gr.Row():
            image = gr.Image(type='filepath', label='LR image', sources=['upload'], height=360, elem_id='lr_input')
            # the upload's path as it is: gr.Image's own preprocessing decodes it with Pillow, and a file that is no
            # image fails there with gradio's bare "Error" before srddgan can name it (``request``); an instance
            # attribute, not a subclass (gradio writes a .pyi stub beside the module of a component subclass)
            image.preprocess = lambda payload: None if payload is None else str(payload.path)
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
        button.click(run, [image, *controls], [gallery, samples, chooser, chosen, std_map, std_note],
                     api_name='explore')
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
    try:  # the carriers srddgan-infer builds from its options of the same names
        args.model = ModelChoice().updated(param_key=args.param_key)
        args.run = RunSettings().updated(device=args.device, max_memory=args.max_memory)
    except OptionError as error:  # a value out of its bounds: named as the option
        parser.error(f'--{error}')
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
        base = TorchBackend().build(args.opt, args.model_path, args.model, args.run)
    except Exception as error:
        report(PROG, error)
        return 1
    build_app(base, args.opt).launch(server_name=args.host, server_port=args.port)
    return 0
