"""What the real-world study trains and tests on: fixed camera-like test degradations of the held-out photographs, and
the training variants (network, training pipeline, start, adversarial weight, budget) as demo option dicts.

The test degradations are fixed (one draw per image: seed + index) and none is a draw the training pipelines make
exactly: MATLAB's antialiased bicubic or an area average as the resize (the pipelines resize with OpenCV's
non-antialiased kernels), a fixed anisotropic kernel, signal-dependent noise, one JPEG quality.
"""
import math
import os
from os import path as osp

import cv2
import numpy as np

from srddgan_arch.data.image_files import list_images
from srddgan_arch.option_files import load_yaml

OPTIONS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'options')
DEMO_OPT, RRDB_OPT = 'train_SRDDGAN_demo_x4.yml', 'train_RRDB_demo_x4.yml'
REALWORLD_OPT, PAPER_OPT = 'train_SRDDGAN_demo_realworld_x4.yml', 'train_SRDDGAN_DIV2K_x4_degraded.yml'

# name -> blur (sigma_x, sigma_y, angle in degrees; HR pixels) or None, resize ('matlab': BasicSR's antialiased
# bicubic, 'area': OpenCV's box average), noise (('gaussian', sigma 0-255, gray) or ('camera', shot, read 0-255): a
# signal-dependent Gaussian of variance shot * x + read^2), JPEG quality or None
TEST_DEGRADATIONS = {
    # the earlier evidence's degradation: a soft lens, bicubic, colour noise, strong JPEG
    'realworld': {'blur': (1.6, 0.8, 30), 'resize': 'matlab', 'noise': ('gaussian', 6, False), 'jpeg': 55},
    # a small phone sensor: slight isotropic blur, pixel binning (area), shot and read noise, the camera's JPEG
    'phone': {'blur': (1.0, 1.0, 0), 'resize': 'area', 'noise': ('camera', 0.004, 2.0), 'jpeg': 80},
    # a re-compressed web image: sharp bicubic downscale, no noise, JPEG quality 40
    'web': {'blur': None, 'resize': 'matlab', 'noise': None, 'jpeg': 40},
}
# the budgets in iterations per minute of the demo's 2 idle cores (800 SRDDGAN iterations, 4,500 RRDB iterations: the
# demo's 10 minutes, docs/results.md "Demo"); a fine-tuned variant's budget includes the demo model's 10 minutes
ITERATIONS_PER_MINUTE = {'srddgan': 80, 'rrdb': 450}
DEMO_MINUTES = 10
# name -> network, training pipeline, start ('scratch' or 'demo': the bicubic-trained demo model's EMA weights),
# gan_weight (None: the recipe's)
VARIANTS = {
    'demo': ('srddgan', 'bicubic', 'scratch', None),
    'paper': ('srddgan', 'paper', 'scratch', None),
    'realworld': ('srddgan', 'realworld', 'scratch', None),
    'realworld_finetune': ('srddgan', 'realworld', 'demo', None),
    'realworld_finetune_l1': ('srddgan', 'realworld', 'demo', 0.0),
    'realesrgan': ('srddgan', 'realesrgan', 'scratch', None),
    'rrdb_bicubic': ('rrdb', 'bicubic', 'scratch', None),
    'rrdb_paper': ('rrdb', 'paper', 'scratch', None),
    'rrdb_realworld': ('rrdb', 'realworld', 'scratch', None),
}


def _blur(img, sigma_x, sigma_y, angle):
    from basicsr.data.degradations import bivariate_Gaussian
    kernel = bivariate_Gaussian(21, sigma_x, sigma_y, math.radians(angle), isotropic=sigma_x == sigma_y)
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def _noise(img, kind, level, other, rng):
    if kind == 'gaussian':
        shape = img.shape[:2] + (1,) if other else img.shape
        return img + rng.normal(0, level / 255, shape)
    std = np.sqrt(level * np.clip(img, 0, 1) + (other / 255) ** 2)
    return img + rng.normal(0, 1, img.shape) * std


def degrade(hr, scale, spec, seed):
    """One test degradation of a uint8 BGR HR image -> uint8 BGR LR (h / scale, w / scale).

    Args:
        hr (ndarray): uint8 BGR image, sides multiples of ``scale``.
        scale (int): Down-sampling factor.
        spec (dict): One of ``TEST_DEGRADATIONS``' values.
        seed (int): Seed of the noise.

    Returns:
        ndarray: The uint8 BGR LR image.
    """
    from basicsr.utils.matlab_functions import imresize
    img = hr.astype(np.float32) / 255
    if spec['blur'] is not None:
        img = _blur(img, *spec['blur'])
    if spec['resize'] == 'matlab':
        img = imresize(img, 1 / scale)
    else:
        img = cv2.resize(img, (img.shape[1] // scale, img.shape[0] // scale), interpolation=cv2.INTER_AREA)
    if spec['noise'] is not None:
        img = _noise(img, *spec['noise'], np.random.default_rng(seed))
    lr = np.clip(img * 255, 0, 255).round().astype(np.uint8)
    if spec['jpeg'] is not None:
        _, encoded = cv2.imencode('.jpg', lr, [cv2.IMWRITE_JPEG_QUALITY, spec['jpeg']])
        lr = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return lr


def write_degraded_lr(hr_dir, lr_dir, name, scale, seed=0):
    """The LR of every image of ``hr_dir`` under the test degradation ``name`` (seed + index per image), as PNG files
    named as the HR; returns ``lr_dir``."""
    os.makedirs(lr_dir, exist_ok=True)
    for index, path in enumerate(list_images(hr_dir)):
        hr = cv2.imread(path, cv2.IMREAD_COLOR)
        lr = degrade(hr, scale, TEST_DEGRADATIONS[name], seed + index)
        cv2.imwrite(osp.join(lr_dir, osp.splitext(osp.basename(path))[0] + '.png'), lr)
    return lr_dir


def iterations(variant, minutes):
    """Training iterations of ``variant`` at a budget of ``minutes`` (fine-tuned: the minutes after the demo's)."""
    network, _, start, _ = VARIANTS[variant]
    own = minutes - DEMO_MINUTES if start == 'demo' else minutes
    if own <= 0:
        raise ValueError(f'variant {variant} starts from the demo model ({DEMO_MINUTES} minutes): give a larger budget '
                         f'than {minutes}.')
    return round(own * ITERATIONS_PER_MINUTE[network])


def _training_data(opt, pipeline, meta_info):
    """``opt``'s training set with the LR made by ``pipeline`` (the demo's HR, crops, batch and augmentation kept)."""
    train = opt['datasets']['train']
    keep = {key: train[key] for key in ('dataroot_gt', 'io_backend', 'gt_size', 'use_hflip', 'use_rot',
                                        'num_worker_per_gpu', 'batch_size_per_gpu', 'dataset_enlarge_ratio')}
    keep['dataroot_gt'] = 'datasets/demo/train/HR'
    if pipeline == 'realesrgan':
        source = load_yaml(osp.join(OPTIONS, 'train_SRDDGAN_RealESRGAN_x4.yml'))
        kernels = {key: value for key, value in source['datasets']['train'].items()
                   if key.startswith(('blur_', 'kernel_', 'sinc_', 'betag_', 'betap_', 'final_sinc'))}
        opt['realesrgan'] = source['realesrgan']
        return dict(keep, **kernels, name='demo_realesrgan', type='SRDDGANRealESRGANDataset', crop_pad_size=128,
                    meta_info=meta_info)
    source = PAPER_OPT if pipeline == 'paper' else REALWORLD_OPT
    degradation = load_yaml(osp.join(OPTIONS, source))['datasets']['train']['degradation']
    return dict(keep, name=f'demo_{pipeline}', type='SRDDGANDegradedDataset', degradation=degradation)


def variant_options(variant, minutes, meta_info, demo_checkpoint, total_iter=None):
    """The option dict that trains ``variant`` for a budget of ``minutes``.

    Args:
        variant (str): A key of ``VARIANTS``.
        minutes (int): The budget (the demo's 10, 30, 60).
        meta_info (str): The demo HR's meta_info file (Real-ESRGAN's data set reads one).
        demo_checkpoint (str): The bicubic-trained demo model the fine-tuned variants start from.
        total_iter (int | None): Iterations instead of the budget's (a shortened study). Default: None.

    Returns:
        dict: Train options named ``study_<variant>_<minutes>min``.
    """
    network, pipeline, start, gan_weight = VARIANTS[variant]
    opt = load_yaml(osp.join(OPTIONS, DEMO_OPT if network == 'srddgan' else RRDB_OPT))
    if pipeline == 'bicubic' and start == 'scratch' and minutes == DEMO_MINUTES and total_iter is None:
        return opt  # the demo option file itself (its model is the Quick start's, reused when trained)
    opt['name'] = f'study_{variant}_{minutes}min' + ('' if total_iter is None else f'_{total_iter}iter')
    opt['train']['total_iter'] = iterations(variant, minutes) if total_iter is None else total_iter
    if gan_weight is not None:
        opt['train']['gan_weight'] = gan_weight
    if pipeline != 'bicubic':
        opt['datasets']['train'] = _training_data(opt, pipeline, meta_info)
        if network == 'srddgan':
            opt['lr_consistency'] = {'downsampler': 'none'}  # a degraded LR has no known downsampler
    if start == 'demo':
        opt['path'].update(pretrain_network_g=demo_checkpoint, param_key_g='params_ema',
                           pretrain_network_d=demo_checkpoint.replace('net_g_', 'net_d_'), param_key_d='params')
    return opt
