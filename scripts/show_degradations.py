"""Show what an option file's training pipeline makes of one photo: a labelled grid of N LR images (paper Fig. 3).

Example: python scripts/show_degradations.py -opt options/train_SRDDGAN_DIV2K_x4_degraded.yml -i photo.png -n 8 \
    -o grid.png --crop 128

The pipeline is the option file's: Real-ESRGAN's when it has a ``realesrgan`` section (kernels drawn as its data set
draws them, the degradation by BasicSR's ``RealESRNetModel.feed_data``), else the paper's degradation of its
``SRDDGANDegradedDataset`` (in the data set's path, or batched with ``degrade_in_dataset: false``). Only the option
file's sections are read, not its data. The first tile is the HR crop (the centre of the photo, ``--crop`` pixels:
default the option file's training crop, ``crop_pad_size`` or ``gt_size``); each LR is shown enlarged with nearest
neighbours to the crop's size, labelled with its seed (and, for the paper's pipeline, its stage order). Draw ``i``
uses seed ``--seed + i``: the same command gives the same grid. The grid is written to a temporary file and renamed.
"""
import argparse
import os
import sys
from os import path as osp

import cv2
import numpy as np
import torch

from srddgan_arch.cli_errors import run_main
from srddgan_arch.data.batch_degradation import RealESRGANDegradation
from srddgan_arch.data.degradations import (
    DegradationOptions,
    degrade_batch,
    degrade_image,
    rng_scope,
    sample_stages,
)
from srddgan_arch.data.image_io import read_image, to_uint8
from srddgan_arch.data.realesrgan_dataset import sample_kernels
from srddgan_arch.data.realesrgan_options import (
    KERNEL_SIDE,
    REALESRGAN_DATASETS,
    RealESRGANOptions,
    with_defaults,
)
from srddgan_arch.option_files import load_yaml

LABEL_HEIGHT = 18
COLUMNS = 5


def pipeline_of(opt):
    """('realesrgan', train set) or ('paper', train set) for an option dict; an error for LR read from files."""
    train = (opt.get('datasets') or {}).get('train') or {}
    if opt.get('realesrgan') is not None and train.get('type') in REALESRGAN_DATASETS:
        return 'realesrgan', train
    if train.get('type') == 'SRDDGANDegradedDataset':
        return 'paper', train
    raise ValueError(f'the training set ({train.get("type")}) reads its LR from files: no degradation to show. Give '
                     'an option file with SRDDGANDegradedDataset or a realesrgan section.')


def paper_draws(hr, opt, train, num, seed):
    """``num`` LR of the paper's degradation of ``hr`` (BGR float32) with their labels."""
    options = DegradationOptions.from_dict(train.get('degradation'), opt['scale'])
    batched = train.get('degrade_in_dataset', True) is False
    draws = []
    for index in range(num):
        with rng_scope(seed + index):
            stages = sample_stages(options)  # degrade_* draw the stage order first: the same order follows
        with rng_scope(seed + index):
            if batched:
                rgb = torch.from_numpy(np.ascontiguousarray(hr[..., ::-1].transpose(2, 0, 1)))[None]
                lr = degrade_batch(rgb, options)[0].numpy().transpose(1, 2, 0)[..., ::-1]
            else:
                lr = degrade_image(hr, options)
        draws.append((lr, f'{seed + index}: {" > ".join(stages)}'))
    return draws


def realesrgan_draws(hr, opt, train, num, seed):
    """``num`` LR of Real-ESRGAN's degradation of ``hr`` (BGR float32) with their labels, one draw per batch (the
    batched degradation shares its resize and noise draws within a batch), without the training-pair pool."""
    kernel_opt = with_defaults(dict(train, phase='train'))
    settings = RealESRGANOptions.from_dict(dict(opt['realesrgan'], queue_size=1))
    if hr.shape[0] * settings.resize_range[0] <= KERNEL_SIDE // 2:
        raise ValueError(f'a {hr.shape[0]}-px crop shrinks below the second blur\'s {KERNEL_SIDE}-px kernels at '
                         f'realesrgan.resize_range[0] = {settings.resize_range[0]}: give a larger --crop.')
    gt = torch.from_numpy(np.ascontiguousarray(hr[..., ::-1].transpose(2, 0, 1)))[None]
    draws = []
    for index in range(num):
        with rng_scope(seed + index):
            kernels = {key: value[None] for key, value in sample_kernels(kernel_opt).items()}
            degrade = RealESRGANDegradation(settings, opt['scale'], hr.shape[0], torch.device('cpu'))
            lr = degrade(dict(kernels, gt=gt))['lq'][0].numpy().transpose(1, 2, 0)[..., ::-1]
        draws.append((lr, f'{seed + index}: Real-ESRGAN'))
    return draws


def centre_crop(img, size, scale):
    """The centre ``size`` square of ``img`` (``size`` a multiple of ``scale``)."""
    h, w = img.shape[:2]
    if min(h, w) < size:
        raise ValueError(f'the photo is {w}x{h}, smaller than the {size}-px crop: give --crop.')
    size -= size % scale
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[top:top + size, left:left + size])


def labelled(img, label):
    """A uint8 tile with a white strip and ``label`` above it."""
    strip = np.full((LABEL_HEIGHT, img.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (3, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, img], axis=0)


def grid(hr, draws):
    """The HR crop and the enlarged LR as labelled tiles, ``COLUMNS`` a row."""
    size = hr.shape[1::-1]
    tiles = [labelled(to_uint8(hr), 'HR crop')]
    tiles += [labelled(cv2.resize(to_uint8(lr), size, interpolation=cv2.INTER_NEAREST), label) for lr, label in draws]
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % COLUMNS)
    rows = [np.concatenate(tiles[i:i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)]
    return np.concatenate(rows, axis=0)


def main(argv=None):
    """Parse ``argv`` (default: the command line), draw and write the grid; returns its shape."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', required=True, help='Training option file.')
    parser.add_argument('-i', '--input', required=True, help='The photo.')
    parser.add_argument('-n', '--num', type=int, default=8, help='LR images to draw. Default: 8.')
    parser.add_argument('-o', '--output', required=True, help='Output PNG.')
    parser.add_argument('--crop', type=int, help="HR crop side. Default: the option file's training crop.")
    parser.add_argument('--seed', type=int, default=0, help='Seed of the first draw. Default: 0.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an -o that exists.')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error('-n must be at least 1.')
    if osp.abspath(args.output) == osp.abspath(args.input):
        parser.error('-o would replace the input photo.')
    if osp.lexists(args.output) and not args.overwrite:
        parser.error(f'-o {args.output} exists; give --overwrite to replace it.')
    opt = load_yaml(args.opt)
    pipeline, train = pipeline_of(opt)
    crop = args.crop or (train.get('crop_pad_size', 400) if pipeline == 'realesrgan' else train['gt_size'])
    hr = centre_crop(read_image(args.input).img, crop, opt['scale'])  # BGR float32 in [0, 1], any file mode
    draw = realesrgan_draws if pipeline == 'realesrgan' else paper_draws
    image = grid(hr, draw(hr, opt, train, args.num, args.seed))
    tmp_path = f'{args.output}.tmp{os.getpid()}.png'
    cv2.imwrite(tmp_path, image)
    os.replace(tmp_path, args.output)
    print(f'show_degradations: {args.num} {pipeline} LR of {args.input} ({crop}-px crop) in {args.output}.')
    return image.shape


if __name__ == '__main__':
    sys.exit(run_main(main, 'show_degradations.py'))
