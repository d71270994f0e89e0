"""Kinds of photograph for choosing and judging a recipe beyond the demo set: foliage, grass, water, fabric, stone, fur,
portrait, each with its own validation and held-out photographs (never the same photograph in both, none of the
demo's training photographs).

Sources: scikit-image's shipped images (grass, gravel, brick; no download) and the crops committed in
``datasets/photo_kinds/`` (``SOURCES.md`` there names each photograph's source, author and licence).

Layout (names ``<kind>__<photo>_<n>.png``: the kind is the part before ``__``)::

    <output_dir>/val/HR/*.png, <output_dir>/val/LR_bicubic_X4/*.png          128x128 crops (as the demo's val)
    <output_dir>/heldout/HR/*.png, <output_dir>/heldout/LR_bicubic_X4/*.png  320x320 crops (NIQE needs the size)
"""
import os
import shutil
import time
from collections import namedtuple
from os import path as osp

import cv2
import numpy as np
from skimage import data as skimage_data

from srddgan_arch.data.preflight import INCOMPLETE_MARKER
from srddgan_tools.prepare import HR_FOLDER, finish_split, lr_folder, mark_incomplete, save_hr_lr
from srddgan_tools.reports import report

SOURCE_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'datasets', 'photo_kinds')
CROP_SIZES = {'val': 128, 'heldout': 320}
SEPARATOR = '__'

# kind, photograph, loader of an RGB or grayscale uint8 array, (top, left) corners of its crops
Crop = namedtuple('Crop', 'kind photo loader corners')


def committed(stem):
    """Loader of a crop committed in ``datasets/photo_kinds`` (RGB uint8)."""
    def load():
        img = cv2.imread(osp.join(SOURCE_DIR, f'{stem}.png'), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f'{osp.join(SOURCE_DIR, stem)}.png is missing: it is part of the repository.')
        return img[..., ::-1]
    return load


KIND_PHOTOS = {
    'val': [
        Crop('foliage', 'palm_tree', committed('palm_tree_foliage_1'), [(0, 0)]),
        Crop('foliage', 'palm_tree', committed('palm_tree_foliage_2'), [(0, 0)]),
        Crop('water', 'palm_tree', committed('palm_tree_water_1'), [(0, 0)]),
        Crop('water', 'palm_tree', committed('palm_tree_water_2'), [(0, 0)]),
        Crop('fabric', 'face', committed('face_fabric_1'), [(0, 0)]),
        Crop('fabric', 'face', committed('face_fabric_2'), [(0, 0)]),
        Crop('portrait', 'face', committed('face_portrait_1'), [(0, 0)]),
        Crop('grass', 'grass', skimage_data.grass, [(40, 40), (300, 330)]),
        Crop('stone', 'gravel', skimage_data.gravel, [(60, 60), (320, 300)]),
    ],
    'heldout': [
        Crop('fur', 'raccoon', committed('raccoon_fur_1'), [(0, 0)]),
        Crop('foliage', 'raccoon', committed('raccoon_foliage_1'), [(0, 0)]),
        Crop('fabric', 'woman', committed('woman_fabric_1'), [(0, 0)]),
        Crop('stone', 'brick', skimage_data.brick, [(96, 96)]),
    ],
}
# the demo's own validation and held-out photographs (srddgan_tools/demo.py) by kind
DEMO_KINDS = {'chelsea': 'fur', 'hubble': 'astronomy', 'grace_hopper': 'portrait', 'camera': 'portrait',
              'coins': 'objects', 'moon': 'astronomy'}


def kind_of(name):
    """The kind of an image file of this set (``<kind>__...``) or of the demo set (by photograph); else 'other'."""
    stem = osp.splitext(osp.basename(name))[0]
    if SEPARATOR in stem:
        return stem.split(SEPARATOR, 1)[0]
    photo = stem.rsplit('_', 1)[0] if stem.rsplit('_', 1)[-1].isdigit() else stem
    return DEMO_KINDS.get(photo, 'other')


def check_photos(photos, excluded=()):
    """Refuse a table whose validation and held-out splits share a photograph, or that uses an ``excluded`` one
    (the demo's training photographs)."""
    names = {split: {crop.photo for crop in crops} for split, crops in photos.items()}
    if shared := names.get('val', set()) & names.get('heldout', set()):
        raise ValueError(f'photographs in both validation and held-out splits: {sorted(shared)}.')
    if used := set().union(*names.values()) & set(excluded):
        raise ValueError(f'training photographs among the kinds: {sorted(used)}.')


def _photo(loader):
    """A photograph as BGR float32 in [0, 1] (grayscale replicated to three channels)."""
    img = loader()
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., 2::-1]
    return np.ascontiguousarray(img).astype(np.float32) / 255.


def _write_crops(photos, split_dirs, scale):
    """Write every crop of every split with its LR; returns the number of photographs."""
    for split, crops in photos.items():
        size, counts = CROP_SIZES[split], {}
        for crop in crops:
            img = _photo(crop.loader)
            for top, left in crop.corners:
                patch = img[top:top + size, left:left + size]
                if patch.shape[:2] != (size, size):
                    raise ValueError(f'{crop.photo}: the crop at {(top, left)} is not {size}x{size}.')
                key = (crop.kind, crop.photo)
                counts[key] = counts.get(key, 0) + 1
                name = f'{crop.kind}{SEPARATOR}{crop.photo}_{counts[key]}'
                save_hr_lr(patch, name, split_dirs[split], [scale])
    return len({crop.photo for crops in photos.values() for crop in crops})


def build_kinds_dataset(output_dir='datasets/kinds', scale=4, photos=None):
    """Build the kinds set (skipped when it is already there; an interrupted build is started again).

    Args:
        output_dir (str): Output folder. Default: 'datasets/kinds'.
        scale (int): LR scale; must divide both crop sizes. Default: 4.
        photos (dict | None): ``{'val': [Crop, ...], 'heldout': [...]}``. Default: None (``KIND_PHOTOS``).

    Returns:
        dict: ``output_dir``, ``skipped`` (bool), ``val`` and ``heldout`` (numbers of pairs; None when skipped).
    """
    from srddgan_tools.demo import TRAIN_PHOTOS

    photos = KIND_PHOTOS if photos is None else photos
    if any(size % scale for size in CROP_SIZES.values()):
        raise ValueError(f'scale {scale} must divide the crop sizes {sorted(CROP_SIZES.values())}.')
    check_photos(photos, TRAIN_PHOTOS)
    split_dirs = {split: osp.join(output_dir, split) for split in photos}
    if any(osp.exists(osp.join(d, INCOMPLETE_MARKER)) for d in split_dirs.values()):
        shutil.rmtree(output_dir)
    folders = [osp.join(d, f) for d in split_dirs.values() for f in (HR_FOLDER, lr_folder(scale))]
    if all(osp.isdir(f) and os.listdir(f) for f in folders):
        return {'output_dir': output_dir, 'skipped': True, **dict.fromkeys(split_dirs)}
    start = time.time()
    mark_incomplete(split_dirs.values())
    num_photos = _write_crops(photos, split_dirs, scale)
    counts = {split: finish_split(split_dir, [scale], False) for split, split_dir in split_dirs.items()}
    report('build_kinds_dataset', num_photos, counts, output_dir, False, [], start)
    return {'output_dir': output_dir, 'skipped': False, **counts}
