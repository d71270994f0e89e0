"""``srddgan-infer`` (also ``scripts/inference_srddgan.py``): super-resolve image files or folders.

The command line follows Real-ESRGAN's ``inference_realesrgan.py``; see ``--help`` and the README. Mistakes are one
line on stderr and a non-zero exit (the traceback with ``--debug``); an image that fails is named and skipped, and the
run ends with a summary and exit code 1.
"""
import math
import os
import sys
from os import path as osp
from typing import NamedTuple

import cv2
from tqdm import tqdm

from srddgan_arch.cli_errors import OneLineParser, one_line, run_main
from srddgan_arch.data.image_files import IMAGE_EXTENSIONS
from srddgan_arch.data.image_io import write_image
from srddgan_arch.device import default_device, device_error, keep_freed_memory
from srddgan_arch.inference.faces import FACE_DETECTOR_FILES, FaceMode, build_face_mode
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.onnx_backend import build_onnx_upsampler, onnx_argument_error
from srddgan_arch.inference.paths import input_images, output_path, plan_outputs, read_checked, sample_indices
from srddgan_arch.inference.settings import PRECISIONS, InferenceSettings
from srddgan_arch.inference.upsampler import build_upsampler, upsample_image
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
    """Command-line arguments of ``srddgan-infer`` (Real-ESRGAN's ``inference_realesrgan.py`` conventions)."""
    parser = OneLineParser(prog=PROG, description='SRDDGAN inference on image files or folders.')
    parser.add_argument('-i', '--input', required=True, help='Input image or folder.')
    parser.add_argument('-o', '--output', default='results', help='Output folder. Default: results.')
    parser.add_argument('-opt', '--opt', type=option_file_argument, help='Option file (YAML) with network_g (and '
                        'diffusion) sections, or the name of a packaged one (see --list-options).')
    parser.add_argument('--list-options', '--list_options', action=ListOptionFiles,
                        help='List the packaged option files and exit.')
    parser.add_argument('--model_path', help='Model weights: a BasicSR checkpoint (.pth), a .safetensors file '
                        "(srddgan-export) or an http(s) address of either (downloaded once into torch.hub's "
                        'checkpoint folder).')
    parser.add_argument('--interpolate', metavar='MODEL_PATH2', help='A second model of the same -opt (e.g. the '
                        'perceptual and the distortion recipe): sample with the weights (1 - alpha) * --model_path + '
                        "alpha * MODEL_PATH2 (ESRGAN's network interpolation).")
    parser.add_argument('--alpha', type=float, help=f'--interpolate: the weight of MODEL_PATH2, 0 to 1. Default: '
                        f'{InferenceSettings.alpha}.')
    parser.add_argument('--param_key', help=f'Checkpoint key. Default: {InferenceSettings.param_key}.')
    parser.add_argument('-s', '--outscale', type=float, help='Final upsampling scale. Default: the model scale.')
    parser.add_argument('--num_samples', type=int, default=1, help='SR samples per image (z draws). Default: 1.')
    parser.add_argument('--reduce', choices=REDUCTIONS, default='none', help="'mean': write one image per input, the "
                        'mean of its --num_samples samples (LR-consistent when they are; higher PSNR, smoother). '
                        "Default: 'none' (one file per sample).")
    parser.add_argument('--seed', type=int, default=0, help='Seed of sample 0; sample i uses seed + i. Default: 0.')
    parser.add_argument('--steps', type=int, help='Diffusion steps T. Default: the trained value (recorded in the '
                        'checkpoint, else the option file\'s); another T is refused without --force_steps.')
    parser.add_argument('--force_steps', action='store_true', help='Sample with a T (or schedule) the model was not '
                        'trained with: samples degrade.')
    parser.add_argument('--lr_consistency', choices=DOWNSAMPLERS,
                        help="Make the output consistent with the input's MATLAB-bicubic downscale ('bicubic': exact "
                        "for models trained on bicubic LR, an approximation otherwise) or not ('none'). Default: the "
                        "option file's lr_consistency section (off without one).")
    parser.add_argument('-t', '--tile', type=int, help='Tile size in LR pixels, 0: no tiling. Default: '
                        f'{InferenceSettings.tile}.')
    parser.add_argument('--tile_pad', type=int, help='Tile overlap context in LR pixels. Default: '
                        f'{InferenceSettings.tile_pad}.')
    precision = parser.add_mutually_exclusive_group()
    for name in PRECISIONS:
        precision.add_argument(f'--{name}', dest='precision', action='store_const', const=name,
                               help=f'Compute in {name}' + (' (autocast).' if PRECISIONS[name] else '.') +
                               (' Default.' if name == InferenceSettings.precision else ''))
    parser.add_argument('--device', help='Device: cpu, mps, cuda or cuda:N. Default: cuda, mps or cpu.')
    parser.add_argument('-g', '--gpu_id', '--gpu-id', type=int, help='GPU to use, the same as --device cuda:N.')
    parser.add_argument('--backend', choices=BACKENDS, default='torch', help='torch, or onnxruntime: the generator '
                        'exported to ONNX (once, into --onnx_dir or torch.hub\'s cache folder), sampled by ONNX '
                        'Runtime and numpy on the CPU in fp32; the same --seed gives the same image. Default: torch.')
    parser.add_argument('--onnx_dir', help='--backend onnxruntime: the export folder (made when missing). Default: '
                        '<torch.hub folder>/srddgan_onnx/<model key>.')
    parser.add_argument('--channels_last', action='store_true', help='Channels-last memory format.')
    parser.add_argument('--compile', action='store_true', help='torch.compile the network.')
    parser.add_argument('--suffix', default='srddgan', help='Suffix of the output names. Default: srddgan.')
    parser.add_argument('--overwrite', action='store_true', help='Replace outputs that exist (else refused).')
    parser.add_argument('--ext', default='auto', help='Output extension; auto keeps the input one (png for '
                        '16-bit or alpha). Default: auto.')
    parser.add_argument('--face', action='store_true', help='Face mode: restore aligned faces with the face model.')
    parser.add_argument('--face_opt', type=option_file_argument, help='Face mode: option file of the face model '
                        '(e.g. x8), or a packaged name.')
    parser.add_argument('--face_model_path', help='Face mode: face model weights.')
    parser.add_argument('--face_size', type=int, default=128, help='Face mode: aligned crop size. Default: 128.')
    parser.add_argument('--face_det_model', default='retinaface_resnet50', choices=sorted(FACE_DETECTOR_FILES))
    parser.add_argument('--face_weights_dir', help="Face mode: facexlib weights folder. Default: facexlib's cache.")
    parser.add_argument('--face_landmarks', help='Face mode: JSON {image file name: [[5 x [x, y]] per face]} '
                        'instead of the detector.')
    parser.add_argument('--max_memory', type=float, help='Memory budget in GiB: images estimated to need more are '
                        'refused with the --tile that fits. Default: the free memory.')
    parser.add_argument('--debug', action='store_true', help='Stop at the first error with its traceback.')
    args = parser.parse_args(argv)
    error = _argument_error(args)
    if error:
        parser.error(error)
    if args.gpu_id is not None:
        args.device = f'cuda:{args.gpu_id}'
    try:
        args.settings = inference_settings(args)
    except OptionError as error:  # a value out of its bounds: named as the option
        parser.error(f'--{error}')
    if args.settings.tile and args.settings.tile_pad < MIN_TILE_PAD:
        print(f'{PROG}: warning: --tile_pad {args.settings.tile_pad}: tiles that see under {MIN_TILE_PAD} LR pixels '
              'of their neighbours leave seams (demo model: 22-37 dB from the untiled image at 0, 37-40 dB from 4 '
              f'on); give --tile_pad {MIN_TILE_PAD} or more.', file=sys.stderr)
    return args


def inference_settings(args):
    """The one :class:`InferenceSettings` of a command line: an option not given keeps its default, the device is
    resolved (``--device``, else the best available)."""
    settings = InferenceSettings().updated(**{name: getattr(args, name) for name in InferenceSettings.rules})
    return settings.updated(device=settings.device or default_device())


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
    if args.reduce == 'mean' and args.face:
        return '--reduce mean works on the -opt model; face mode writes each sample.'
    if args.alpha is not None and not args.interpolate:
        return '--alpha goes with --interpolate (the second model).'
    if not 0 <= args.seed <= MAX_SEED + 1 - args.num_samples:
        return f'--seed must be an integer from 0 to {MAX_SEED + 1 - args.num_samples} (sample i uses seed + i).'
    if args.outscale is not None and not (math.isfinite(args.outscale) and args.outscale > 0):
        return f'-s must be a positive number, got {args.outscale}.'
    if args.ext != 'auto' and (f'.{args.ext.lower()}' not in IMAGE_EXTENSIONS or not cv2.haveImageWriter(
            f'x.{args.ext}')):
        return f'--ext {args.ext}: not an image format; use auto or one of {", ".join(IMAGE_EXTENSIONS)}.'
    if args.max_memory is not None and not args.max_memory > 0:
        return '--max_memory must be a positive number of GiB.'
    if args.backend == 'onnxruntime':
        return onnx_argument_error(args)
    return device_error(args.device, args.gpu_id)


class Job(NamedTuple):
    """What ``srddgan-infer`` does to every input, built once from the arguments (``build_job``).

    Args:
        upsampler (SRDDGANer | None): The ``-opt`` model; in face mode the background's (None: Lanczos).
        guard (MemoryGuard | None): The memory guard of ``upsampler``.
        faces (FaceMode | None): Face mode (``faces.py``), or None.
        outscale (float | None): The final scale; None: the model's.
        seeds (range): One seed per sample (``--seed``, ``--num_samples``).
        reduce (str): ``--reduce``: 'none' (a file per sample) or 'mean' (one file, the mean of the samples).
        output (str): The output folder.
        ext (str): The ``--ext``.
        overwrite (bool): ``--overwrite``.
    """

    upsampler: object
    guard: MemoryGuard | None
    faces: FaceMode | None
    outscale: float | None
    seeds: range
    reduce: str
    output: str
    ext: str
    overwrite: bool


def build_job(args, inputs=()):
    """The upsamplers (one :class:`InferenceSettings` for all), the memory guard and face mode of parsed arguments.

    Args:
        args (Namespace): From :func:`parse_args`.
        inputs (list[str]): The input files (``--backend onnxruntime`` never exports beside them). Default: ().

    Returns:
        Job: The job.
    """
    upsampler = build_upsampler(args.opt, args.model_path, args.settings) if args.opt else None
    guard = MemoryGuard(upsampler, args.max_memory) if upsampler else None
    if args.backend == 'onnxruntime':  # the memory guard measures torch's network: none for ONNX Runtime
        upsampler, guard = build_onnx_upsampler(upsampler, args, inputs), None
    faces, outscale = None, args.outscale
    if args.face:
        face_upsampler = build_upsampler(args.face_opt, args.face_model_path, args.settings)
        outscale = outscale or (upsampler or face_upsampler).scale
        faces = build_face_mode(face_upsampler, outscale, args.face_size, args.face_det_model, args.face_weights_dir,
                                args.face_landmarks)
    return Job(upsampler, guard, faces, outscale, range(args.seed, args.seed + args.num_samples), args.reduce,
               args.output, args.ext, args.overwrite)


def _upscale(job, path, image, seed):
    """One sample of one image: the model's, or in face mode the background (model or Lanczos) with the faces."""
    if job.faces is None:
        return upsample_image(job.upsampler, image, job.outscale, seed, progress=job.upsampler.tile > 0)
    background = None
    if job.upsampler is not None:
        background = upsample_image(job.upsampler, image, job.outscale, seed).img
    return job.faces.restore(osp.basename(path), image, background, seed)


def _process(job, path, stem):
    """Super-resolve one input into its ``--num_samples`` output files."""
    image = read_checked(path, job.guard, job.outscale)
    outputs = [job.seeds] if job.reduce == 'mean' else job.seeds  # (a range of seeds: the mean of their samples)
    for index, seed in zip(sample_indices(len(job.seeds), job.reduce), outputs, strict=True):
        target = output_path(stem, path, job.output, job.ext, image.needs_png, index)
        write_image(target, *_upscale(job, path, image, seed), overwrite=job.overwrite)


def run(args):
    """Everything ``main`` does once the arguments are parsed; returns the exit code."""
    if args.settings.device == 'cpu':
        keep_freed_memory()
    inputs = input_images(args.input)
    stems = plan_outputs(args, inputs)
    os.makedirs(args.output, exist_ok=True)
    job = build_job(args, inputs)
    failures, done = [], 0
    for path in tqdm(inputs, desc='images', unit='img'):
        try:
            _process(job, path, stems[path])
        except KeyboardInterrupt:  # Ctrl-C: what was written, not a traceback
            print(f'{PROG}: interrupted: {done - len(failures)} of {len(inputs)} images written to {args.output}'
                  f'{f", {len(failures)} failed" if failures else ""}; {path} and the rest were not.', file=sys.stderr)
            return 130
        except Exception as error:  # one bad image does not stop the others; --debug stops with the traceback
            if args.debug:
                raise
            failures.append(path)
            tqdm.write(f'{PROG}: skipped {path}: {one_line(error)}', file=sys.stderr)
        done += 1
    if failures:
        print(f'{PROG}: {len(inputs) - len(failures)} of {len(inputs)} images written to {args.output}; '
              f'{len(failures)} failed: {", ".join(failures)}.', file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """``srddgan-infer``: super-resolve an image or a folder; see ``--help``. Returns the exit code: 0, 1 when
    something failed (one line on stderr, the traceback with ``--debug``), 2 for a usage error."""
    # every failure past the arguments is one line here: an image that fails is skipped the same way
    return run_main(lambda arguments: run(parse_args(arguments)), PROG, argv, own_debug=True, mistakes=(Exception,))
