"""Real-ESRGAN's training data set (BasicSR's ``RealESRGANDataset``) with its fixed 400-px crop as a key.

BasicSR's data set crops (or reflection-pads) every HR image to 400x400 in ``__getitem__``, a number in its code. Here
the crop is ``crop_pad_size`` (default 400) and smaller images are refused instead of padded (at start-up by the
option checks, at loading by path); everything else is BasicSR's: its ``__init__`` (paths from ``meta_info`` or the
LMDB, the kernel settings), its ``augment``, and its kernel draws, made in the same order with the same BasicSR
functions (``sample_kernels``, which needs no files), so that with ``crop_pad_size: 400`` a seed gives the HR crop and
kernels BasicSR's data set gives.
"""
import math
import random

import numpy as np
import torch
from basicsr.data.degradations import circular_lowpass_kernel, random_mixed_kernels
from basicsr.data.realesrgan_dataset import RealESRGANDataset
from basicsr.data.transforms import augment
from basicsr.utils import img2tensor
from basicsr.utils.registry import DATASET_REGISTRY

from srddgan_arch.data.image_files import BadImageError
from srddgan_arch.data.paired_dataset import RobustImageReading
from srddgan_arch.data.realesrgan_options import (
    KERNEL_SIDE,
    RealESRGANDatasetOptions,
    RealESRGANOptions,
    dataset_options,
    listing_file,
)


@DATASET_REGISTRY.register()
class SRDDGANRealESRGANDataset(RobustImageReading, RealESRGANDataset):
    """BasicSR's ``RealESRGANDataset`` with ``crop_pad_size`` and bad or too small images named (or skipped).

    Args:
        opt (dict): ``RealESRGANDatasetOptions`` keys (BasicSR's, plus ``crop_pad_size`` and ``skip_bad_images``).
    """

    options_section = RealESRGANDatasetOptions
    # the section whose degradation the model applies to its batches (Real-ESRGAN's top-level keys, gathered there)
    degradation_section = RealESRGANOptions

    def __init__(self, opt):
        self.settings = dataset_options(opt)
        opt = dict(opt, **vars(self.settings))
        listing_file(opt['dataroot_gt'], opt['io_backend']['type'], opt['meta_info'], f'datasets.{opt.get("phase")}')
        RealESRGANDataset.__init__(self, opt)

    def __getitem__(self, index):
        return self.load_skipping_bad(index)

    def load(self, index):
        """Sample ``index``: ``gt`` (RGB CHW in [0, 1], crop_pad_size square), ``kernel1``, ``kernel2``,
        ``sinc_kernel`` (21x21) and ``gt_path``."""
        gt_path = self.paths[index]
        img_gt = augment(self.read_client_image(gt_path, 'gt'), self.opt['use_hflip'], self.opt['use_rot'])
        size = self.opt['crop_pad_size']
        h, w = img_gt.shape[:2]
        if h < size or w < size:
            raise BadImageError(gt_path, f'HR size {w}x{h} is smaller than crop_pad_size {size}')
        if h > size or w > size:
            top, left = random.randint(0, h - size), random.randint(0, w - size)
            img_gt = img_gt[top:top + size, left:left + size]
        return {'gt': img2tensor(img_gt, bgr2rgb=True, float32=True), **sample_kernels(self.opt), 'gt_path': gt_path}


KERNEL_SIZES = [2 * v + 1 for v in range(3, 11)]  # BasicSR's kernel sizes, 7 to 21
PULSE = torch.zeros(KERNEL_SIDE, KERNEL_SIDE)  # the identity filter BasicSR uses when no final sinc is drawn
PULSE[KERNEL_SIDE // 2, KERNEL_SIDE // 2] = 1


def sample_kernels(opt):
    """The first- and second-order blur kernels and the final sinc filter of one sample, drawn as BasicSR's
    ``RealESRGANDataset.__getitem__`` draws them (same functions, generators and order).

    Args:
        opt (dict): The data set's kernel keys (``RealESRGANDatasetOptions``, defaults filled in).

    Returns:
        dict: ``kernel1``, ``kernel2``, ``sinc_kernel``: float tensors (21, 21).
    """
    kernels = {'kernel1': _blur_kernel(opt, ''), 'kernel2': _blur_kernel(opt, '2')}
    if np.random.uniform() < opt['final_sinc_prob']:
        kernel_size = random.choice(KERNEL_SIZES)
        omega_c = np.random.uniform(math.pi / 3, math.pi)
        sinc = torch.FloatTensor(circular_lowpass_kernel(omega_c, kernel_size, pad_to=KERNEL_SIDE))
    else:
        sinc = PULSE.clone()
    return dict(kernels, sinc_kernel=sinc)


def _blur_kernel(opt, order):
    """A blur kernel of the first (``order`` '') or second ('2') degradation, zero-padded to 21x21."""
    kernel_size = random.choice(KERNEL_SIZES)
    if np.random.uniform() < opt[f'sinc_prob{order}']:
        omega_c = np.random.uniform(math.pi / 3 if kernel_size < 13 else math.pi / 5, math.pi)
        kernel = circular_lowpass_kernel(omega_c, kernel_size, pad_to=False)
    else:
        sigma = opt[f'blur_sigma{order}']
        kernel = random_mixed_kernels(opt[f'kernel_list{order}'], opt[f'kernel_prob{order}'], kernel_size, sigma,
                                      sigma, [-math.pi, math.pi], opt[f'betag_range{order}'],
                                      opt[f'betap_range{order}'], noise_range=None)
    pad = (KERNEL_SIDE - kernel_size) // 2
    return torch.FloatTensor(np.pad(kernel, ((pad, pad), (pad, pad))))


# BasicSR's own class reads the same keys: the run checks read it through the same section
RealESRGANDataset.options_section = RealESRGANDatasetOptions
