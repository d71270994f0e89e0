"""Shared pytest fixtures. Every test imports the plugin first (compatibility fixes and registries)."""
import math
import os
from os import path as osp

import cv2
import numpy as np
import pytest
import torch

import srddgan_arch  # before anything imports basicsr: it makes `import basicsr` work


def write_paired_images(root, num_images=8, hr_size=32, scale=4, seed=0):
    """Write ``num_images`` smooth random HR PNGs and their MATLAB-bicubic LR under ``root/{HR,LR}``.

    Returns:
        tuple[str, str]: The HR and LR folders.
    """
    from basicsr.utils.matlab_functions import imresize

    rng = np.random.default_rng(seed)
    hr_dir, lr_dir = osp.join(root, 'HR'), osp.join(root, 'LR')
    for folder in (hr_dir, lr_dir):
        os.makedirs(folder, exist_ok=True)
    for index in range(num_images):
        coarse = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.float32)
        hr = cv2.resize(coarse, (hr_size, hr_size), interpolation=cv2.INTER_CUBIC)
        hr = np.clip(hr + rng.normal(0, 8, hr.shape), 0, 255).astype(np.uint8)
        lr = np.clip(np.round(imresize(hr.astype(np.float64) / 255, 1 / scale) * 255), 0, 255).astype(np.uint8)
        cv2.imwrite(osp.join(hr_dir, f'{index:03d}.png'), hr)
        cv2.imwrite(osp.join(lr_dir, f'{index:03d}.png'), lr)
    return hr_dir, lr_dir


@pytest.fixture
def paired_data(tmp_path):
    """Eight 32x32 HR / 8x8 LR PNG pairs: (hr_dir, lr_dir)."""
    return write_paired_images(str(tmp_path / 'data'))


def link_package(root):
    """Link the package into ``root``: its ``srddgan_arch/train.py`` and ``test.py`` then run as from an installed
    package, whose experiment root is the working directory (no setup.py next to it), so ``experiments/`` and
    ``results/`` go to ``root`` when it is the working directory, never into the checkout.

    Returns:
        pathlib.Path: ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(osp.dirname(osp.abspath(srddgan_arch.__file__)), root / 'srddgan_arch')
    return root


@pytest.fixture
def run_root(tmp_path):
    """An experiment root under ``tmp_path`` with the package linked into it (see ``link_package``)."""
    return link_package(tmp_path / 'root')


# torchvision AlexNet's ``features`` convolutions: index -> weight shape
ALEXNET_CONV_SHAPES = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3),
                       10: (256, 256, 3, 3)}


@pytest.fixture(scope='session')
def alexnet_file(tmp_path_factory):
    """A fake torchvision AlexNet state dict (the ``features`` tensors only, seeded random values) for LPIPS."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, shape in ALEXNET_CONV_SHAPES.items():
        fan_in = shape[1] * shape[2] * shape[3]
        state[f'features.{index}.weight'] = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        state[f'features.{index}.bias'] = torch.zeros(shape[0])
    path = tmp_path_factory.mktemp('torchvision') / 'alexnet-owt-7be5be79.pth'
    torch.save(state, path)
    return str(path)
