"""The embedded demo set: photographs that ship inside installed packages (scikit-image, matplotlib; no download).

Layout (the demo option files depend on it)::

    <output_dir>/train/HR/*.png, <output_dir>/train/LR_bicubic_X4/*.png      128-px HR sub-images of the training photos
    <output_dir>/val/HR/*.png, <output_dir>/val/LR_bicubic_X4/*.png          128x128 crops of the two validation photos
    <output_dir>/heldout/HR/*.png, <output_dir>/heldout/LR_bicubic_X4/*.png  whole held-out photos (sides cropped to a
                                                                              multiple of 4)

Training uses the colour photographs of those packages except the validation ones (chelsea, the Hubble deep field),
one held out (Grace Hopper, matplotlib's sample) and two that made the model worse when added (measured at equal
iterations: the retina fundus image and the colour wheel, unlike any photograph we validate on, cost 0.16 dB on the
validation crops and 0.41 dB on the held-out photos); the held-out split adds scikit-image's grayscale photographs
(camera, coins, moon). Neither the validation nor the held-out photographs are ever trained on.
"""
import os
import shutil
import time
from os import path as osp

import cv2
import numpy as np
from matplotlib import cbook
from skimage import data as skimage_data

from srddgan_arch.data.preflight import INCOMPLETE_MARKER
from srddgan_tools.prepare import (
    HR_FOLDER,
    finish_split,
    lr_folder,
    mark_incomplete,
    save_hr_lr,
    sub_image_corners,
)
from srddgan_tools.reports import report

# photograph name -> loader of an RGB or grayscale uint8 array; all ship inside the packages (no pooch download)
TRAIN_PHOTOS = {
    'astronaut': skimage_data.astronaut,
    'coffee': skimage_data.coffee,
    'rocket': skimage_data.rocket,
    'motorcycle': lambda: skimage_data.stereo_motorcycle()[0],
    'motorcycle_right': lambda: skimage_data.stereo_motorcycle()[1],  # the stereo pair's other view: +0.07 dB (val)
    'immunohistochemistry': skimage_data.immunohistochemistry,
}
# validation photograph -> (loader, (top, left) corners of its 128x128 crops)
VAL_PHOTOS = {
    'chelsea': (skimage_data.chelsea, [(40, 130), (150, 250)]),
    'hubble': (skimage_data.hubble_deep_field, [(300, 400), (600, 100)]),
}
HELDOUT_PHOTOS = {
    'grace_hopper': lambda: cv2.imread(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))[..., ::-1],
    'camera': skimage_data.camera,
    'coins': skimage_data.coins,
    'moon': skimage_data.moon,
}
SPLITS = ('train', 'val', 'heldout')
CROP_SIZE = 128
TRAIN_STEP = 128


def _photo(loader):
    """A photograph as BGR float32 in [0, 1] (grayscale ones replicated to three channels)."""
    img = loader()
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., 2::-1]
    return np.ascontiguousarray(img).astype(np.float32) / 255.


def _is_built(output_dir, scale):
    """Whether every folder of the demo layout exists and holds images."""
    folders = [osp.join(output_dir, split, f) for split in SPLITS for f in (HR_FOLDER, lr_folder(scale))]
    return all(osp.isdir(f) and os.listdir(f) for f in folders)


def _write_photos(split_dirs, scale):
    """Write the training sub-images, the validation crops and the held-out photos with their LR."""
    for name, loader in TRAIN_PHOTOS.items():
        img = _photo(loader)
        for index, (top, left) in enumerate(sub_image_corners(*img.shape[:2], CROP_SIZE, TRAIN_STEP), start=1):
            save_hr_lr(img[top:top + CROP_SIZE, left:left + CROP_SIZE], f'{name}_s{index:03d}', split_dirs['train'],
                       [scale])
    for name, (loader, corners) in VAL_PHOTOS.items():
        img = _photo(loader)
        for index, (top, left) in enumerate(corners, start=1):
            save_hr_lr(img[top:top + CROP_SIZE, left:left + CROP_SIZE], f'{name}_{index}', split_dirs['val'], [scale])
    for name, loader in HELDOUT_PHOTOS.items():
        img = _photo(loader)
        save_hr_lr(img[:img.shape[0] // scale * scale, :img.shape[1] // scale * scale], name, split_dirs['heldout'],
                   [scale])


def build_demo_dataset(output_dir='datasets/demo', scale=4, lmdb=False):
    """Build the demo set (skipped when it is already there).

    Args:
        output_dir (str): Output folder. Default: 'datasets/demo'.
        scale (int): LR scale; must divide 128. Default: 4.
        lmdb (bool): Also write LMDB copies (``HR.lmdb``, ``LR_bicubic_X<s>.lmdb`` in each split). Default: False.

    Returns:
        dict: ``output_dir``, ``skipped`` (bool), ``train``, ``val`` and ``heldout`` (numbers of pairs; None when
        skipped).
    """
    if CROP_SIZE % scale:
        raise ValueError(f'scale {scale} must divide the demo crop size {CROP_SIZE}.')
    split_dirs = {split: osp.join(output_dir, split) for split in SPLITS}
    if any(osp.exists(osp.join(d, INCOMPLETE_MARKER)) for d in split_dirs.values()):  # an interrupted build: again
        shutil.rmtree(output_dir)
    built = _is_built(output_dir, scale)
    if built and (not lmdb or osp.isdir(osp.join(split_dirs['train'], f'{HR_FOLDER}.lmdb'))):
        return {'output_dir': output_dir, 'skipped': True, **dict.fromkeys(SPLITS)}
    start = time.time()
    if not built:
        mark_incomplete(split_dirs.values())
        _write_photos(split_dirs, scale)
    counts = {split: finish_split(split_dir, [scale], lmdb) for split, split_dir in split_dirs.items()}
    num_photos = len(TRAIN_PHOTOS) + len(VAL_PHOTOS) + len(HELDOUT_PHOTOS)
    report('prepare_demo_data', num_photos, counts, output_dir, lmdb, [], start)
    return {'output_dir': output_dir, 'skipped': False, **counts}
