"""The data sets of the studies' end-to-end tests, built once per session: ``datasets/demo`` and ``datasets/kinds`` as
the scripts build them, their held-out photographs centre-cropped to ``HELDOUT_SIDE`` pixels (the scripts sample and
score whole held-out photographs: at 512 px on 2 cores that was most of a shortened study's time)."""
import os
import shutil
from os import path as osp

import cv2
import pytest

# the smallest side at which the studies still score NIQE on the held-out photographs (perception_distortion.py:
# two of BasicSR's 96-px NIQE blocks)
HELDOUT_SIDE = 192


def crop_heldout(split_dir, side=HELDOUT_SIDE, scale=4):
    """Centre-crop every held-out HR photograph of ``split_dir`` to ``side`` pixels and remake its bicubic LR and the
    split's meta_info."""
    from srddgan_tools.prepare import HR_FOLDER, lr_folder, save_hr_lr, write_meta_info

    for name in sorted(p for p in os.listdir(osp.join(split_dir, HR_FOLDER)) if p.endswith('.png')):
        hr = cv2.imread(osp.join(split_dir, HR_FOLDER, name)).astype('float32') / 255
        top, left = (hr.shape[0] - side) // 2, (hr.shape[1] - side) // 2
        save_hr_lr(hr[top:top + side, left:left + side], osp.splitext(name)[0], split_dir, [scale])
        assert cv2.imread(osp.join(split_dir, lr_folder(scale), name)).shape[:2] == (side // scale, side // scale)
    write_meta_info(split_dir)


@pytest.fixture(scope='session')
def study_datasets(tmp_path_factory):
    """A function that copies the studies' data sets (demo and kinds, held-out photographs cropped) to
    ``<root>/datasets``, where the scripts find them built."""
    from srddgan_tools.demo import build_demo_dataset  # (imported here: the other tests' start-up does without)
    from srddgan_tools.photo_kinds import build_kinds_dataset

    datasets = tmp_path_factory.mktemp('study_data') / 'datasets'
    for name, build in (('demo', build_demo_dataset), ('kinds', build_kinds_dataset)):
        build(str(datasets / name), scale=4)
        crop_heldout(str(datasets / name / 'heldout'))
    return lambda root: shutil.copytree(datasets, root / 'datasets')
