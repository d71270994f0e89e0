"""``srddgan-infer`` (also ``scripts/inference_srddgan.py``): super-resolve image files or folders.

The command line follows Real-ESRGAN's ``inference_realesrgan.py``; see ``--help`` and the README.
"""
import argparse
import json
from os import path as osp

import numpy as np
from tqdm import tqdm

from srddgan_arch.data.image_io import IMAGE_EXTENSIONS, list_images, read_image, to_uint8, write_image
from srddgan_arch.device import default_device, keep_freed_memory
from srddgan_arch.inference.faces import FACE_DETECTOR_FILES, build_face_helper, restore_faces
from srddgan_arch.inference.upsampler import PRECISIONS, build_upsampler, in_mode_of, upsample_image
from srddgan_arch.lr_consistency import DOWNSAMPLERS


def input_images(path):
    """The image files of a folder (sorted), or ``[path]`` for a file."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'Input {path} is neither an image file nor a folder.')
    return list_images(path)


def output_path(input_path, output_dir, suffix, ext, needs_png, sample_index=None):
    """Output file name ``<name>_<suffix>[_<i>].<ext>``; png when 16-bit or alpha need it and ext is 'auto'."""
    name, input_ext = osp.splitext(osp.basename(input_path))
    if ext == 'auto':
        ext = 'png' if needs_png else input_ext[1:]
    stem = f'{name}_{suffix}' if suffix else name
    if sample_index is not None:
        stem = f'{stem}_{sample_index}'
    return osp.join(output_dir, f'{stem}.{ext}')


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
    parser.add_argument('--lr_consistency', choices=DOWNSAMPLERS,
                        help="Make the output consistent with the input's MATLAB-bicubic downscale ('bicubic': exact "
                        "for models trained on bicubic LR, an approximation otherwise) or not ('none'). Default: the "
                        "option file's lr_consistency section (off without one).")
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
    """Face mode for one image: background (model or Lanczos), then the faces; returns a DecodedImage."""
    background = None
    if bg_upsampler is not None:
        background = to_uint8(upsample_image(bg_upsampler, image, args.outscale, seed).img)
    restored, _ = restore_faces(face_upsampler, helper, to_uint8(image.img), background,
                                landmarks.get(osp.basename(path)) if landmarks else None, seed)
    return in_mode_of(image, restored.astype(np.float32) / 255)


def main(argv=None):
    """``srddgan-infer``: super-resolve an image or a folder; see ``--help``."""
    args = parse_args(argv)
    args.device = args.device or default_device()
    if args.device == 'cpu':
        keep_freed_memory()
    inputs = input_images(args.input)
    if not inputs:
        raise FileNotFoundError(f'No images ({", ".join(IMAGE_EXTENSIONS)}) in {args.input}.')
    input_paths = {osp.realpath(p) for p in inputs}
    runtime = dict(param_key=args.param_key, steps=args.steps, tile=args.tile, tile_pad=args.tile_pad,
                   precision=args.precision, device=args.device, channels_last=args.channels_last, compile=args.compile,
                   lr_consistency=args.lr_consistency)
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
