"""The embedded demo set: scikit-image's colour photographs (shipped with the package, no download) as a tiny x4 set.

Layout (the demo option files depend on it)::

    <output_dir>/train/HR/*.png, <output_dir>/train/LR_bicubic_X4/*.png  128-px HR sub-images of the training photos
    <output_dir>/val/HR/*.png,   <output_dir>/val/LR_bicubic_X4/*.png    128x128 crops of two held-out photos
"""
import os
import time
from os import path as osp

import numpy as np
from skimage import data as skimage_data

from srddgan_arch.data.prepare import HR_FOLDER, finish_split, lr_folder, report, save_hr_lr, sub_image_corners

# photograph name -> skimage.data loader; all ship inside scikit-image (no pooch download)
TRAIN_PHOTOS = {
    'astronaut': skimage_data.astronaut,
    'coffee': skimage_data.coffee,
    'rocket': skimage_data.rocket,
    'motorcycle': lambda: skimage_data.stereo_motorcycle()[0],
    'immunohistochemistry': skimage_data.immunohistochemistry,
}
# held-out photograph -> (top, left) corners of its validation crops
VAL_PHOTOS = {
    'chelsea': (skimage_data.chelsea, [(40, 130), (150, 250)]),
    'hubble': (skimage_data.hubble_deep_field, [(300, 400), (600, 100)]),
}
CROP_SIZE = 128
TRAIN_STEP = 128


def _photo(loader):
    """A skimage photograph as BGR float32 in [0, 1]."""
    return np.ascontiguousarray(loader()[..., 2::-1]).astype(np.float32) / 255.


def _is_built(output_dir, scale):
    """Whether every folder of the demo layout exists and holds images."""
    folders = [osp.join(output_dir, split, f) for split in ('train', 'val') for f in (HR_FOLDER, lr_folder(scale))]
    return all(osp.isdir(f) and os.listdir(f) for f in folders)


def _write_photos(train_dir, val_dir, scale):
    """Write the training sub-images and the validation crops with their LR."""
    for name, loader in TRAIN_PHOTOS.items():
        img = _photo(loader)
        for index, (top, left) in enumerate(sub_image_corners(*img.shape[:2], CROP_SIZE, TRAIN_STEP), start=1):
            save_hr_lr(img[top:top + CROP_SIZE, left:left + CROP_SIZE], f'{name}_s{index:03d}', train_dir, [scale])
    for name, (loader, corners) in VAL_PHOTOS.items():
        img = _photo(loader)
        for index, (top, left) in enumerate(corners, start=1):
            save_hr_lr(img[top:top + CROP_SIZE, left:left + CROP_SIZE], f'{name}_{index}', val_dir, [scale])


def build_demo_dataset(output_dir='datasets/demo', scale=4, lmdb=False):
    """Build the demo set (skipped when it is already there).

    Args:
        output_dir (str): Output folder. Default: 'datasets/demo'.
        scale (int): LR scale; must divide 128. Default: 4.
        lmdb (bool): Also write LMDB copies (``HR.lmdb``, ``LR_bicubic_X<s>.lmdb`` in each split). Default: False.

    Returns:
        dict: ``output_dir``, ``skipped`` (bool), ``train`` and ``val`` (numbers of pairs; None when skipped).
    """
    if CROP_SIZE % scale:
        raise ValueError(f'scale {scale} must divide the demo crop size {CROP_SIZE}.')
    train_dir, val_dir = osp.join(output_dir, 'train'), osp.join(output_dir, 'val')
    built = _is_built(output_dir, scale)
    if built and (not lmdb or osp.isdir(osp.join(train_dir, f'{HR_FOLDER}.lmdb'))):
        return {'output_dir': output_dir, 'skipped': True, 'train': None, 'val': None}
    start = time.time()
    if not built:
        _write_photos(train_dir, val_dir, scale)
    counts = {split: finish_split(split_dir, [scale], lmdb) for split, split_dir in
              (('train', train_dir), ('val', val_dir))}
    report('prepare_demo_data', len(TRAIN_PHOTOS) + len(VAL_PHOTOS), counts, output_dir, lmdb, [], start)
    return {'output_dir': output_dir, 'skipped': False, **counts}
