"""The command line of ``srddgan-infer``: its arguments (Real-ESRGAN's ``inference_realesrgan.py`` conventions),
checked together, and the two carriers they build once: the ``-opt`` model's :class:`ModelChoice` (``args.model``)
and the run's :class:`RunSettings` (``args.run``). The web app checks its requests with the same functions."""
import math
import sys

import cv2

from srddgan_arch.cli_errors import OneLineParser
from srddgan_arch.color_fix import COLOR_FIXES
from srddgan_arch.data.image_files import IMAGE_EXTENSIONS
from srddgan_arch.device import default_device, device_error
from srddgan_arch.inference.faces import FACE_DETECTOR_FILES
from srddgan_arch.inference.onnx_backend import onnx_argument_error
from srddgan_arch.inference.settings import PRECISIONS, ModelChoice, RunSettings
from srddgan_arch.lr_consistency import DOWNSAMPLERS
from srddgan_arch.option_files import ListOptionFiles, option_file_argument
from srddgan_arch.options import OptionError

PROG = 'srddgan-infer'
BACKENDS = ('torch', 'onnxruntime')
REDUCTIONS = ('none', 'mean')
# seeds torch.Generator takes: [0, 2**64)
MAX_SEED = 2**64 - 1
# the overlap below which tiles leave seams (measured on the demo model, 32 px LR: tile_pad 0: 22-37 dB from the
# untiled image, 2: 30-36 dB, 4 and more: 37-40 dB, the difference the tiles' own noise draws make)
MIN_TILE_PAD = 4


def parse_args(argv=None):
    """Command-line arguments of ``srddgan-infer``, checked, with ``model`` (:class:`ModelChoice`) and ``run``
    (:class:`RunSettings`) built from them; a mistake is one line and exit code 2."""
    parser = OneLineParser(prog=PROG, description='SRDDGAN inference on image files or folders.')
    for add_arguments in (_file_arguments, _model_arguments, _sampling_arguments, _run_arguments, _face_arguments):
        add_arguments(parser)
    parser.add_argument('--max_memory', type=float, help='Memory budget in GiB: images estimated to need more are '
                        'refused with the --tile that fits. Default: the free memory.')
    parser.add_argument('--debug', action='store_true', help='Stop at the first error with its traceback.')
    args = parser.parse_args(argv)
    try:
        model, run = model_choice(args), run_settings(args)
    except OptionError as error:  # a value out of its bounds: named as the option
        parser.error(f'--{error}')
    error = _argument_error(args, model, run)
    if error:
        parser.error(error)
    args.model, args.run = model, run.updated(device=run.device or default_device())
    if args.run.tile and args.run.tile_pad < MIN_TILE_PAD:
        print(f'{PROG}: warning: --tile_pad {args.run.tile_pad}: tiles that see under {MIN_TILE_PAD} LR pixels '
              'of their neighbours leave seams (demo model: 22-37 dB from the untiled image at 0, 37-40 dB from 4 '
              f'on); give --tile_pad {MIN_TILE_PAD} or more.', file=sys.stderr)
    return args


def _file_arguments(parser):
    """Inputs, outputs and the model files."""
    parser.add_argument('-i', '--input', required=True, help='Input image or folder.')
    parser.add_argument('-o', '--output', default='results', help='Output folder. Default: results.')
    parser.add_argument('-opt', '--opt', type=option_file_argument, help='Option file (YAML) with network_g (and '
                        'diffusion) sections, or the name of a packaged one (see --list-options).')
    parser.add_argument('--list-options', '--list_options', action=ListOptionFiles,
                        help='List the packaged option files and exit.')
    parser.add_argument('--suffix', default='srddgan', help='Suffix of the output names. Default: srddgan.')
    parser.add_argument('--overwrite', action='store_true', help='Replace outputs that exist (else refused).')
    parser.add_argument('--ext', default='auto', help='Output extension; auto keeps the input one (png for '
                        '16-bit or alpha). Default: auto.')


def _model_arguments(parser):
    """What is chosen for the -opt model: its weights and sampler (``ModelChoice``)."""
    parser.add_argument('--model_path', help='Model weights: a BasicSR checkpoint (.pth), a .safetensors file '
                        "(srddgan-export) or an http(s) address of either (downloaded once into torch.hub's "
                        'checkpoint folder).')
    parser.add_argument('--interpolate', metavar='MODEL_PATH2', help='A second model of the same -opt (e.g. the '
                        'perceptual and the distortion recipe): sample with the weights (1 - alpha) * --model_path + '
                        "alpha * MODEL_PATH2 (ESRGAN's network interpolation).")
    parser.add_argument('--alpha', type=float, help=f'--interpolate: the weight of MODEL_PATH2, 0 to 1. Default: '
                        f'{ModelChoice.alpha}.')
    parser.add_argument('--param_key', help=f'Checkpoint key. Default: {ModelChoice.param_key}.')
    parser.add_argument('--steps', type=int, help='Diffusion steps T. Default: the trained value (recorded in the '
                        'checkpoint, else the option file\'s); another T is refused without --force_steps.')
    parser.add_argument('--force_steps', action='store_true', help='Sample with a T (or schedule) the model was not '
                        'trained with: samples degrade.')
    parser.add_argument('--lr_consistency', choices=DOWNSAMPLERS,
                        help="Make the output consistent with the input's MATLAB-bicubic downscale ('bicubic': exact "
                        "for models trained on bicubic LR, an approximation otherwise) or not ('none'). Default: the "
                        "option file's lr_consistency section (off without one).")
    parser.add_argument('--color_fix', choices=COLOR_FIXES, help="Take the output's low frequencies ('wavelet') or "
                        "channel statistics ('adain') from the upsampled LR, for samplers without the LR projection "
                        "(--lr_consistency none): a degraded photo's colour drift corrected. Default: "
                        f'{ModelChoice.color_fix}.')


def _sampling_arguments(parser):
    """Samples per image, their seeds and the final scale."""
    parser.add_argument('-s', '--outscale', type=float, help='Final upsampling scale. Default: the model scale.')
    parser.add_argument('--num_samples', type=int, default=1, help='SR samples per image (z draws). Default: 1.')
    parser.add_argument('--reduce', choices=REDUCTIONS, default='none', help="'mean': write one image per input, the "
                        'mean of its --num_samples samples (LR-consistent when they are; higher PSNR, smoother). '
                        "Default: 'none' (one file per sample).")
    parser.add_argument('--seed', type=int, default=0, help='Seed of sample 0; sample i uses seed + i. Default: 0.')


def _run_arguments(parser):
    """How the run computes (``RunSettings``) and which backend runs it."""
    parser.add_argument('-t', '--tile', type=int, help='Tile size in LR pixels, 0: no tiling. Default: '
                        f'{RunSettings.tile}.')
    parser.add_argument('--tile_pad', type=int, help='Tile overlap context in LR pixels. Default: '
                        f'{RunSettings.tile_pad}.')
    precision = parser.add_mutually_exclusive_group()
    for name in PRECISIONS:
        precision.add_argument(f'--{name}', dest='precision', action='store_const', const=name,
                               help=f'Compute in {name}' + (' (autocast).' if PRECISIONS[name] else '.') +
                               (' Default.' if name == RunSettings.precision else ''))
    parser.add_argument('--device', help='Device: cpu, mps, cuda or cuda:N. Default: cuda, mps or cpu.')
    parser.add_argument('-g', '--gpu_id', '--gpu-id', type=int, help='GPU to use, the same as --device cuda:N.')
    parser.add_argument('--backend', choices=BACKENDS, default='torch', help='torch, or onnxruntime: the generator '
                        'exported to ONNX (once, into --onnx_dir or torch.hub\'s cache folder), sampled by ONNX '
                        'Runtime and numpy on the CPU in fp32; the same --seed gives the same image. Default: torch.')
    parser.add_argument('--onnx_dir', help='--backend onnxruntime: the export folder (made when missing). Default: '
                        '<torch.hub folder>/srddgan_onnx/<model key>.')
    parser.add_argument('--channels_last', action='store_true', help='Channels-last memory format.')
    parser.add_argument('--compile', action='store_true', help='torch.compile the network.')


def _face_arguments(parser):
    """Face mode: the face model and facexlib."""
    parser.add_argument('--face', action='store_true', help='Face mode: restore aligned faces with the face model.')
    parser.add_argument('--face_opt', type=option_file_argument, help='Face mode: option file of the face model '
                        '(e.g. x8), or a packaged name. The face model samples with its own trained steps and its '
                        "option file's LR consistency: the -opt model's choices are not its.")
    parser.add_argument('--face_model_path', help='Face mode: face model weights.')
    parser.add_argument('--face_size', type=int, default=128, help='Face mode: aligned crop size. Default: 128.')
    parser.add_argument('--face_det_model', default='retinaface_resnet50', choices=sorted(FACE_DETECTOR_FILES))
    parser.add_argument('--face_weights_dir', help="Face mode: facexlib weights folder. Default: facexlib's cache.")
    parser.add_argument('--face_landmarks', help='Face mode: JSON {image file name: [[5 x [x, y]] per face]} '
                        'instead of the detector.')


def model_choice(args):
    """The :class:`ModelChoice` of the ``-opt`` model on a command line (an option not given keeps its default)."""
    return ModelChoice().updated(**{name: getattr(args, name) for name in ModelChoice.rules})


def run_settings(args):
    """The one :class:`RunSettings` of a command line, for every model it builds (``-g N`` is the device cuda:N; no
    device: None, which ``parse_args`` resolves once the arguments are checked)."""
    settings = RunSettings().updated(**{name: getattr(args, name) for name in RunSettings.rules})
    return settings.updated(device=f'cuda:{args.gpu_id}') if args.gpu_id is not None else settings


def sampling_error(seed, num_samples, outscale):
    """What is wrong with the seeds and the final scale of a request (the command line's or the web app's), or None.

    Args:
        seed (int): The seed of sample 0 (sample i uses seed + i).
        num_samples (int): The samples per image.
        outscale (float | None): The final scale; None: the model's.

    Returns:
        str | None: The one-line message.
    """
    if num_samples < 1:
        return '--num_samples must be >= 1.'
    if not 0 <= seed <= MAX_SEED + 1 - num_samples:
        return f'--seed must be an integer from 0 to {MAX_SEED + 1 - num_samples} (sample i uses seed + i).'
    if outscale is not None and not (math.isfinite(outscale) and outscale > 0):
        return f'-s must be a positive number, got {outscale}.'
    return None


def _argument_error(args, model, run):
    """What is wrong with a combination of ``srddgan-infer`` arguments (``model`` and ``run``: the carriers built from
    them), or None."""
    if args.face and not (args.face_opt and args.face_model_path):
        return '--face needs --face_opt and --face_model_path (the face model).'
    if not args.face and not (args.opt and args.model_path):
        return '-opt and --model_path are required (the network definition and its weights).'
    if bool(args.opt) != bool(args.model_path):
        return '-opt and --model_path go together.'
    if args.reduce == 'mean' and args.face:
        return '--reduce mean works on the -opt model; face mode writes each sample.'
    if args.alpha is not None and not args.interpolate:
        return '--alpha goes with --interpolate (the second model).'
    if args.face and not args.opt and (given := [f'--{name}' for name in ModelChoice.rules
                                                  if getattr(args, name) not in (None, False)]):
        return (f'{", ".join(given)} choose(s) for the -opt model, and there is none: the face model samples with '
                'its checkpoint\'s weights and trained steps and its option file\'s LR consistency.')
    if error := sampling_error(args.seed, args.num_samples, args.outscale):
        return error
    if args.ext != 'auto' and (f'.{args.ext.lower()}' not in IMAGE_EXTENSIONS or not cv2.haveImageWriter(
            f'x.{args.ext}')):
        return f'--ext {args.ext}: not an image format; use auto or one of {", ".join(IMAGE_EXTENSIONS)}.'
    if args.backend == 'onnxruntime':
        return onnx_argument_error(model, run, args.face)
    return device_error(args.device, args.gpu_id)


