"""Preparation of the paper's three benchmark data sets (paper "Datasets" and Table 1).

- DIV2K + Flickr2K: HR sub-images (128 px crops) and bicubic x2/x4 LR;
- FFHQ / CelebA-HQ: HR resized to 128, LR 16 (x8);
- CIFAR-10: the official python batches, HR 32, LR 16 (x2), train and test splits.

Each ``prepare_*`` function is what its script in ``scripts/`` runs; the per-image work is in module-level task
functions so that worker processes can run it.
"""
import math
import os
import pickle
import time
from functools import partial
from os import path as osp

import numpy as np
from basicsr.data.transforms import mod_crop
from basicsr.utils.matlab_functions import imresize

from srddgan_arch.data.image_files import read_bytes
from srddgan_arch.data.image_io import decode_image
from srddgan_tools.prepare import (
    check_output_free,
    finish_split,
    list_input_images,
    run_tasks,
    save_hr_lr,
    sub_image_corners,
)
from srddgan_tools.reports import ImageResult, report, report_skipped

CIFAR_SPLITS = {'train': [f'data_batch_{i}' for i in range(1, 6)], 'test': ['test_batch']}
CIFAR_CHUNK = 1000
# the only globals a CIFAR-10 batch refers to: numpy array reconstruction (numpy 1 and 2 names, pickle protocols 2-5)
# and bytes in protocol-2 pickles; pickle calls whatever a file names, so anything else is refused
CIFAR_PICKLE_GLOBALS = frozenset([
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('_codecs', 'encode'),
])


def _div2k_task(path, output, scales, crop_size, step, thresh_size):
    """Sub-images (or the whole mod-cropped image when ``crop_size`` is 0) of one HR image and their LR; an
    ``ImageResult``."""
    image = decode_image(read_bytes(path), path)
    img = mod_crop(image.img, math.lcm(*scales))
    stem = osp.splitext(osp.basename(path))[0]
    size = image.img.shape[:2]
    if min(img.shape[:2]) == 0:
        return ImageResult(path, image.conversion, f'smaller than the scale {math.lcm(*scales)}', size)
    if crop_size == 0:
        save_hr_lr(img, stem, output, scales)
        return ImageResult(path, image.conversion, None, size)
    corners = sub_image_corners(*img.shape[:2], crop_size, step, thresh_size)
    for index, (top, left) in enumerate(corners, start=1):
        save_hr_lr(img[top:top + crop_size, left:left + crop_size], f'{stem}_s{index:03d}', output, scales)
    return ImageResult(path, image.conversion, None if corners else f'smaller than the {crop_size}-px crop', size)


def prepare_div2k(inputs, output, scales=(2, 4), crop_size=128, step=64, thresh_size=0, lmdb=False, workers=1):
    """DIV2K / Flickr2K HR folders -> HR sub-images and bicubic LR for each scale.

    Args:
        inputs (list[str]): HR folders (e.g. DIV2K_train_HR and Flickr2K_HR).
        output (str): Output split folder.
        scales (tuple[int]): LR scales. Default: (2, 4).
        crop_size (int): Sub-image side; 0 keeps whole images (mod-cropped, e.g. for validation). Default: 128.
        step (int): Sub-image grid step. Default: 64.
        thresh_size (int): Border leftover below which no extra crop is made. Default: 0.
        lmdb (bool): Also write LMDB copies. Default: False.
        workers (int): Worker processes. Default: 1.

    Returns:
        str: The summary line.
    """
    start = time.time()
    if crop_size % math.lcm(*scales):
        raise ValueError(f'--crop-size {crop_size} must be divisible by every scale {list(scales)}.')
    if crop_size and step <= 0:
        raise ValueError(f'--step must be positive, got {step}.')
    paths = list_input_images(inputs, output)
    check_output_free([output], lmdb, scales)
    task = partial(_div2k_task, output=output, scales=scales, crop_size=crop_size, step=step, thresh_size=thresh_size)
    results = run_tasks(task, paths, workers, 'HR sub-images + LR')
    skipped = report_skipped(results)
    count = finish_split(output, scales, lmdb)
    return report('prepare_div2k', len(paths), {osp.basename(osp.normpath(output)): count}, output, lmdb,
                  [r[:2] for r in results], start, skipped)


def _square_resize(img, size):
    """Centre square crop of ``img`` resized to ``size`` x ``size`` with MATLAB-style bicubic."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top:top + side, left:left + side]
    if side != size:
        img = imresize(img, size / side)[:size, :size]
    if img.shape[:2] != (size, size):
        raise ValueError(f'resizing a {side}-pixel square to {size} gave {img.shape[:2]}.')
    return img


def _faces_task(path, output, hr_size, scale):
    """HR face resized to ``hr_size`` and its bicubic LR; faces smaller than ``hr_size`` are skipped (an upscaled
    face is no HR image). Returns an ``ImageResult``."""
    image = decode_image(read_bytes(path), path)
    size = image.img.shape[:2]
    if min(size) < hr_size:
        return ImageResult(path, image.conversion, f'smaller than the {hr_size}-px HR size', size)
    save_hr_lr(_square_resize(image.img, hr_size), osp.splitext(osp.basename(path))[0], output, [scale])
    return ImageResult(path, image.conversion, None, size)


def prepare_faces(inputs, output, hr_size=128, scale=8, lmdb=False, workers=1):
    """FFHQ / CelebA-HQ image folders -> HR ``hr_size`` (centre square, bicubic) and LR ``hr_size / scale``; images
    smaller than ``hr_size`` are skipped and reported.

    Args:
        inputs (list[str]): Image folders (searched recursively).
        output (str): Output split folder.
        hr_size (int): HR side. Default: 128.
        scale (int): LR scale. Default: 8.
        lmdb (bool): Also write LMDB copies. Default: False.
        workers (int): Worker processes. Default: 1.

    Returns:
        str: The summary line.
    """
    start = time.time()
    if hr_size % scale:
        raise ValueError(f'--hr-size {hr_size} must be divisible by --scale {scale}.')
    paths = list_input_images(inputs, output)
    check_output_free([output], lmdb, [scale])
    results = run_tasks(partial(_faces_task, output=output, hr_size=hr_size, scale=scale), paths, workers,
                        'faces HR + LR')
    skipped = report_skipped(results)
    count = finish_split(output, [scale], lmdb)
    return report('prepare_faces', len(paths), {osp.basename(osp.normpath(output)): count}, output, lmdb,
                  [r[:2] for r in results], start, skipped)


class CifarUnpickler(pickle.Unpickler):
    """Unpickler that builds dicts, lists, bytes, numbers and numpy arrays, and nothing else: a crafted batch file
    naming any other function (e.g. ``os.system``) raises ``pickle.UnpicklingError`` instead of running it."""

    def find_class(self, module, name):
        if (module, name) not in CIFAR_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f'refusing {module}.{name}: a CIFAR-10 batch holds only numpy arrays')
        return super().find_class(module, name)


def load_cifar_batch(path):
    """Images of one official CIFAR-10 python batch.

    Args:
        path (str): A ``data_batch_*`` or ``test_batch`` pickle.

    Returns:
        ndarray: uint8 RGB images, shape (n, 32, 32, 3).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'CIFAR-10 batch {path} is missing; --input must be the folder '
                                f'cifar-10-batches-py with {", ".join(sum(CIFAR_SPLITS.values(), []))}.')
    try:
        with open(path, 'rb') as f:
            batch = CifarUnpickler(f, encoding='bytes').load()
        data = np.asarray(batch[b'data'], dtype=np.uint8)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{path} is not a CIFAR-10 python batch (a pickled dict with b"data"): {error!r}') from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f'{path}: b"data" has shape {data.shape}; expected (n, 3072).')
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _cifar_task(task, scale):
    """Write one chunk of CIFAR images: (split folder, first index, uint8 RGB images)."""
    split_dir, first, images = task
    for offset, rgb in enumerate(images):
        save_hr_lr(rgb[..., ::-1].astype(np.float32) / 255., f'{first + offset:05d}', split_dir, [scale])


def prepare_cifar10(inputs, output, scale=2, lmdb=False, workers=1):
    """Official CIFAR-10 python batches -> ``train`` and ``test`` splits, HR 32 and bicubic LR ``32 / scale``.

    Args:
        inputs (list[str]): One folder holding ``data_batch_1..5`` and ``test_batch``.
        output (str): Output folder (gets ``train/`` and ``test/``).
        scale (int): LR scale. Default: 2.
        lmdb (bool): Also write LMDB copies. Default: False.
        workers (int): Worker processes. Default: 1.

    Returns:
        str: The summary line.
    """
    start = time.time()
    if len(inputs) != 1:
        raise ValueError(f'--input takes the one cifar-10-batches-py folder, got {len(inputs)} folders.')
    if 32 % scale:
        raise ValueError(f'--scale {scale} must divide 32.')
    split_dirs = {split: osp.join(output, split) for split in CIFAR_SPLITS}
    check_output_free(list(split_dirs.values()), lmdb, [scale])
    tasks, total = [], 0
    for split, batch_names in CIFAR_SPLITS.items():
        images = np.concatenate([load_cifar_batch(osp.join(inputs[0], name)) for name in batch_names])
        total += len(images)
        tasks += [(split_dirs[split], i, images[i:i + CIFAR_CHUNK]) for i in range(0, len(images), CIFAR_CHUNK)]
    for split_dir in split_dirs.values():
        os.makedirs(split_dir, exist_ok=True)
    run_tasks(partial(_cifar_task, scale=scale), tasks, workers, 'CIFAR-10 HR + LR')
    counts = {split: finish_split(split_dir, [scale], lmdb) for split, split_dir in split_dirs.items()}
    return report('prepare_cifar10', total, counts, output, lmdb, [], start)
