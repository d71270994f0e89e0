"""``srddgan-export``: a trained generator as a file for sharing and for other tools.

``srddgan-export --safetensors -opt X --model_path net_g_latest.pth -o G.safetensors`` writes the generator's
weights (the checkpoint's ``params_ema``) with the diffusion schedule it was trained with (the one the checkpoint
recorded, else the option file's) as metadata; ``srddgan-infer``, ``test.py`` (``pretrain_network_g``) and
``SRDDGANer`` load it without unpickling and with the same schedule guard as the checkpoint.

``srddgan-export --onnx -opt X --model_path G -o DIR`` writes the LR encoder and one generator step as ONNX graphs
for ONNX Runtime into the folder DIR (``srddgan_arch.inference.onnx_export``; run them with ``srddgan-infer --backend
onnxruntime --onnx_dir DIR`` or ``srddgan_runtime.OnnxUpsampler(DIR)``).

A format is one entry of ``EXPORTERS``: its function and what ``-o`` is; the command line gets its flag from there.
"""
import dataclasses
import json
import os
from collections.abc import Callable
from os import path as osp
from typing import NamedTuple

from srddgan_arch.cli_errors import OneLineParser, run_main
from srddgan_arch.inference.loading import is_diffusion_network, load_option_file, load_trained_network
from srddgan_arch.option_files import option_file_argument
from srddgan_arch.utils.checkpoint import SAFETENSORS_DIFFUSION, SAFETENSORS_PARAM_KEY
from srddgan_arch.utils.training_state import atomic_write
from srddgan_arch.version import __version__

PROG = 'srddgan-export'


class TrainedGenerator(NamedTuple):
    """A generator to export.

    Args:
        net (nn.Module): The network with its trained weights, in eval mode, on the CPU.
        network_opt (dict): Its ``network_g`` section (``type`` and keyword arguments).
        diffusion (dict | None): ``DiffusionSchedule.settings()`` of the schedule it was trained with; None for a
            one-shot network (RRDBNet).
    """

    net: object
    network_opt: dict
    diffusion: dict | None


def load_generator(opt_path, model_path, param_key='params_ema'):
    """The trained generator of a checkpoint, built from an option file's ``network_g``.

    Args:
        opt_path (str): Option file with ``network_g`` (and ``diffusion``).
        model_path (str): Checkpoint (``.pth``, ``.safetensors`` or an http(s) address).
        param_key (str): Key of the weights in the checkpoint. Default: 'params_ema'.

    Returns:
        TrainedGenerator: The network, its definition and its training schedule (recorded, else the option file's).
    """
    option_file = load_option_file(opt_path)
    net, trained = load_trained_network(option_file.network_g, model_path, param_key, f'network_g of {opt_path}')
    diffusion = (trained or dataclasses.asdict(option_file.diffusion)) if is_diffusion_network(net) else None
    return TrainedGenerator(net, option_file.network_g, diffusion)


def export_safetensors(generator, output):
    """Write the generator's weights as a ``.safetensors`` file; metadata: ``param_key`` (``params_ema``, the key
    loaders find them under), ``diffusion`` and ``network_g`` (JSON) and the srddgan version.

    Args:
        generator (TrainedGenerator): From :func:`load_generator`.
        output (str): The file, written atomically.
    """
    from safetensors.torch import save

    tensors = {name: tensor.detach().contiguous() for name, tensor in generator.net.state_dict().items()}
    metadata = {SAFETENSORS_PARAM_KEY: 'params_ema', 'network_g': json.dumps(generator.network_opt),
                'srddgan_version': __version__}
    if generator.diffusion is not None:
        metadata[SAFETENSORS_DIFFUSION] = json.dumps(generator.diffusion)
    atomic_write(output, lambda f: f.write(save(tensors, metadata)))


def _write_safetensors(args):
    generator = load_generator(args.opt, args.model_path, args.param_key)
    export_safetensors(generator, args.output)
    schedule = f', trained schedule {generator.diffusion}' if generator.diffusion else ''
    return f'{args.output} ({generator.network_opt["type"]}{schedule})'


def _write_onnx(args):
    from srddgan_arch.inference.onnx_export import export_onnx

    return export_onnx(args.opt, args.model_path, args.output, args.param_key)


class Exporter(NamedTuple):
    """A format of ``srddgan-export``: ``write(args)`` (returns what it wrote), the file ending of ``-o`` (None: ``-o``
    is a new or empty folder) and the flag's help."""

    write: Callable
    extension: str | None
    help: str


EXPORTERS = {
    'safetensors': Exporter(_write_safetensors, '.safetensors',
                            'Weights and training schedule as safetensors (loads without unpickling).'),
    'onnx': Exporter(_write_onnx, None, 'The LR encoder and one generator step as ONNX graphs (encoder.onnx, '
                     'step.onnx, srddgan_onnx.json) for ONNX Runtime, into the folder -o (the [onnx] extra).'),
}


def parse_args(argv=None):
    """Command-line arguments of ``srddgan-export``."""
    parser = OneLineParser(prog=PROG, description='Export a trained SRDDGAN (or RRDBNet) generator.')
    formats = parser.add_mutually_exclusive_group(required=True)
    for name, exporter in EXPORTERS.items():
        formats.add_argument(f'--{name}', dest='format', action='store_const', const=name, help=exporter.help)
    parser.add_argument('-opt', '--opt', required=True, type=option_file_argument,
                        help='Option file with network_g (and diffusion), or the name of a packaged one.')
    parser.add_argument('--model_path', required=True, help='Training checkpoint (net_g_*.pth), .safetensors file '
                        'or http(s) address.')
    parser.add_argument('--param_key', default='params_ema', help='Key of the weights in the checkpoint. '
                        'Default: params_ema.')
    parser.add_argument('-o', '--output', required=True, help='The file to write (its ending: the format\'s); '
                        'with --onnx a new or empty folder.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an existing output file.')
    parser.add_argument('--debug', action='store_true', help='Show the traceback of an error.')
    args = parser.parse_args(argv)
    error = _output_error(args)
    if error:
        parser.error(error)
    return args


def _output_error(args):
    """What is wrong with ``-o``, or None: found before the checkpoint is read."""
    extension = EXPORTERS[args.format].extension
    if osp.realpath(args.output) == osp.realpath(args.model_path):
        return f'-o {args.output} is the input --model_path.'
    if extension is None:
        if osp.lexists(args.output) and not (osp.isdir(args.output) and not os.listdir(args.output)):
            return f'-o {args.output}: --{args.format} writes a folder; give a new or empty one.'
        return None
    if not args.output.endswith(extension):
        return f'-o {args.output}: a {args.format} file must end in {extension} (loaders recognise it by that).'
    if osp.lexists(args.output) and not args.overwrite:
        return f'-o {args.output} exists; give --overwrite to replace it.'
    return None


def main(argv=None):
    """``srddgan-export``; returns the exit code: 0, 1 on an error (one line on stderr), 2 for a usage error."""
    return run_main(_export, PROG, argv, own_debug=True, mistakes=(Exception,))


def _export(argv):
    """Parse ``argv`` and write the export; returns 0."""
    args = parse_args(argv)
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    print(f'{PROG}: wrote {EXPORTERS[args.format].write(args)}.')
    return 0
