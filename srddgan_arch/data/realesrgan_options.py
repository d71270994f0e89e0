"""The option sections of Real-ESRGAN's pipeline: its data set's keys and its model-side degradation's keys, with
Real-ESRGAN's names, meanings and defaults (``options/train_realesrnet_x4plus.yml`` of Real-ESRGAN), their checks
against the rest of the run (``check_with_run``, with the run checks) and the HR images against them
(``check_images``, with the data probed on disk).
"""
import re
from os import path as osp

from srddgan_arch.data.degradations import KERNEL_TYPES
from srddgan_arch.data.image_io import read_header
from srddgan_arch.options.parse_once import parse_once
from srddgan_arch.options.pipeline_sections import DatasetOptions
from srddgan_arch.options.ranges import PROBABILITY, check_choices, check_probabilities, check_ranges
from srddgan_arch.options.schema import REQUIRED, OptionError, Section, option, section

KERNEL_SIDE = 21  # BasicSR pads every kernel to 21x21 (kernel sizes 7 to 21)
BASICSR_CROP = 400  # the crop BasicSR's RealESRGANDataset hard-codes
# data set types whose samples are HR crops with Real-ESRGAN's kernels, to be degraded by the model
REALESRGAN_DATASETS = ('SRDDGANRealESRGANDataset', 'RealESRGANDataset_basicsr')


@section('realesrgan')
class RealESRGANOptions(Section):
    """Real-ESRGAN's degradation of training batches (``RealESRNetModel``'s top-level keys, in a section of their
    own; defaults from Real-ESRGAN's ``train_realesrnet_x4plus.yml``). ``resize_prob`` is the probability of resizing
    up, down or keeping the size. Real-ESRGAN's top-level ``gt_size``, the crop of the degraded pair, is the training
    set's ``gt_size`` (Real-ESRGAN's files write it there too)."""

    gt_usm: bool = option(True, 'USM-sharpen the HR before degrading it: the sharpened HR is the target '
                          "(Real-ESRNet's key; the three *_gt_usm keys below, when given, decide instead).")
    l1_gt_usm: bool | None = option(None, "Real-ESRGAN's GAN key: the pixel loss's target is the sharpened HR "
                                    '(null: as gt_usm). Any of the three given: the LR is degraded from the sharpened '
                                    'HR, as RealESRGANModel does.')
    percep_gt_usm: bool | None = option(None, "Real-ESRGAN's GAN key: the content/style loss's target is the "
                                        'sharpened HR (null: as gt_usm).')
    gan_gt_usm: bool | None = option(None, "Real-ESRGAN's GAN key: the HR of the diffusion chain (the real pairs D "
                                     'sees, the y_t G denoises) is the sharpened HR (null: as gt_usm).')
    queue_size: int = option(180, 'Training-pair pool size; a multiple of the batch per process.', gt=0)
    resize_prob: list = option((0.2, 0.7, 0.1), 'First resize: probabilities of up, down, keep.')
    resize_range: list = option((0.15, 1.5), 'First resize: scale range (down below 1, up above).')
    gaussian_noise_prob: float = option(0.5, 'First noise: Gaussian with this probability, else Poisson.',
                                        **PROBABILITY)
    noise_range: list = option((1, 30), 'First noise: Gaussian sigma range (0-255).')
    poisson_scale_range: list = option((0.05, 3), 'First noise: Poisson scale range.')
    gray_noise_prob: float = option(0.4, 'First noise: probability of grey noise.', **PROBABILITY)
    jpeg_range: list = option((30, 95), 'First JPEG: quality range.')
    second_blur_prob: float = option(0.8, 'Probability of the second blur.', **PROBABILITY)
    resize_prob2: list = option((0.3, 0.4, 0.3), 'Second resize: probabilities of up, down, keep.')
    resize_range2: list = option((0.3, 1.2), 'Second resize: scale range.')
    gaussian_noise_prob2: float = option(0.5, 'Second noise: Gaussian with this probability, else Poisson.',
                                         **PROBABILITY)
    noise_range2: list = option((1, 25), 'Second noise: Gaussian sigma range (0-255).')
    poisson_scale_range2: list = option((0.05, 2.5), 'Second noise: Poisson scale range.')
    gray_noise_prob2: float = option(0.4, 'Second noise: probability of grey noise.', **PROBABILITY)
    jpeg_range2: list = option((30, 95), 'Second JPEG: quality range.')

    def validate(self, key):
        """Ranges [low, high] (JPEG qualities within [0, 100]), three resize probabilities each."""
        check_ranges(key, self, ('resize_range', 'noise_range', 'poisson_scale_range', 'jpeg_range', 'resize_range2',
                                 'noise_range2', 'poisson_scale_range2', 'jpeg_range2'))
        for name in ('resize_prob', 'resize_prob2'):
            check_probabilities(key, name, getattr(self, name), 3, 'for up, down and keep')

    def targets(self):
        """Whether each target is the sharpened HR: {'gt': D's and the chain's, 'gt_pixel', 'gt_content_style'}, or
        None when none of Real-ESRGAN's three GAN keys is given (one target: the HR, sharpened with ``gt_usm``)."""
        flags = {'gt': self.gan_gt_usm, 'gt_pixel': self.l1_gt_usm, 'gt_content_style': self.percep_gt_usm}
        if all(flag is None for flag in flags.values()):
            return None
        return {name: self.gt_usm if flag is None else flag for name, flag in flags.items()}


@section('datasets.<phase>')
class RealESRGANDatasetOptions(DatasetOptions):
    """``SRDDGANRealESRGANDataset`` and BasicSR's ``RealESRGANDataset_basicsr``: HR crops and the blur kernels of
    Real-ESRGAN's degradation (its keys and defaults, ``options/train_realesrnet_x4plus.yml``); the LR is made by the
    model (the ``realesrgan`` section)."""

    dataroot_gt: str = option(REQUIRED, 'HR folder (.lmdb folder with io_backend lmdb).')
    meta_info: str | None = option(None, 'Disk backend: the HR files, one a line, relative to dataroot_gt '
                                   '(scripts/generate_meta_info.py writes it).')
    gt_size: int | None = option(None, "HR crop of the degraded training pair (Real-ESRGAN's top-level gt_size).",
                                 gt=0)
    crop_pad_size: int = option(400, "Side of the HR crop the degradation runs on (BasicSR's fixed 400); smaller "
                                'images are refused. SRDDGANRealESRGANDataset only.', gt=0)
    use_hflip: bool = option(True, 'Random horizontal flips.')
    use_rot: bool = option(True, 'Random rotations.')
    skip_bad_images: bool = option(False, 'Log and skip corrupt or too small images (SRDDGANRealESRGANDataset).')
    blur_kernel_size: int = option(21, 'Kernel size of the first blur (BasicSR draws 7 to 21 regardless).', ge=7,
                                   le=21)
    kernel_list: list = option(('iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso',
                                'plateau_aniso'), 'Kernel types of the first blur.')
    kernel_prob: list = option((0.45, 0.25, 0.12, 0.03, 0.12, 0.03), 'Probability of each kernel type.')
    sinc_prob: float = option(0.1, 'Probability of a sinc filter as the first blur.', **PROBABILITY)
    blur_sigma: list = option((0.2, 3), 'Gaussian sigma range of the first blur.')
    betag_range: list = option((0.5, 4), 'Generalized Gaussian shape range.')
    betap_range: list = option((1, 2), 'Plateau shape range.')
    blur_kernel_size2: int = option(21, 'Kernel size of the second blur (BasicSR draws 7 to 21 regardless).', ge=7,
                                    le=21)
    kernel_list2: list = option(('iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso',
                                 'plateau_aniso'), 'Kernel types of the second blur.')
    kernel_prob2: list = option((0.45, 0.25, 0.12, 0.03, 0.12, 0.03), 'Probability of each kernel type.')
    sinc_prob2: float = option(0.1, 'Probability of a sinc filter as the second blur.', **PROBABILITY)
    blur_sigma2: list = option((0.2, 1.5), 'Gaussian sigma range of the second blur.')
    betag_range2: list = option((0.5, 4), 'Generalized Gaussian shape range (second blur).')
    betap_range2: list = option((1, 2), 'Plateau shape range (second blur).')
    final_sinc_prob: float = option(0.8, 'Probability of the final sinc filter.', **PROBABILITY)

    def validate(self, key):
        """Both blurs: known kernel types with a probability each, ranges [low, high]."""
        super().validate(key)
        for suffix in ('', '2'):
            check_choices(key, f'kernel_list{suffix}', getattr(self, f'kernel_list{suffix}'), f'kernel_prob{suffix}',
                          getattr(self, f'kernel_prob{suffix}'), KERNEL_TYPES)
            check_ranges(key, self, tuple(f'{name}{suffix}' for name in ('blur_sigma', 'betag_range', 'betap_range')))

    def check_with_run(self, opt, key):
        """What this data set needs from the rest of a run, before training: a training set, the ``realesrgan``
        section (its keys; a pool that holds whole batches), a crop that the resizes leave large enough.

        Args:
            opt (dict): The run's options.
            key (str): The data set's name in messages, e.g. 'datasets.train'.
        """
        if not key.split('.')[-1].startswith('train'):
            raise OptionError(f'{key}: {self.type} makes training pairs; validate on paired data (PairedImageDataset).')
        if opt.get('realesrgan') is None:
            raise OptionError(f'{key}: {self.type} gives HR crops and kernels, no LR: add the realesrgan section '
                              "(Real-ESRGAN's degradation keys; realesrgan: {} for its defaults).")
        settings = parse_once(RealESRGANOptions, opt['realesrgan'])
        if self.batch_size_per_gpu and settings.queue_size % self.batch_size_per_gpu:
            raise OptionError(f'realesrgan.queue_size = {settings.queue_size} is not a multiple of '
                              f'{key}.batch_size_per_gpu = {self.batch_size_per_gpu}: the training-pair pool exchanges '
                              'whole batches.')
        if self.type != 'SRDDGANRealESRGANDataset' and self.crop_pad_size != BASICSR_CROP:
            raise OptionError(f'{key}.crop_pad_size: {self.type} crops to {BASICSR_CROP}; use type: '
                              'SRDDGANRealESRGANDataset for another crop.')
        if self.gt_size is not None and self.gt_size > self.crop_pad_size:
            raise OptionError(f'{key}.gt_size = {self.gt_size} is larger than crop_pad_size = {self.crop_pad_size}.')
        if self.crop_pad_size * settings.resize_range[0] <= KERNEL_SIDE // 2:
            raise OptionError(f'{key}.crop_pad_size = {self.crop_pad_size} x realesrgan.resize_range[0] = '
                              f'{settings.resize_range[0]} leaves images too small for the second blur (21-px '
                              f'kernels need more than {KERNEL_SIDE // 2} px): raise one of them.')

    def check_images(self, key):
        """The HR images are listed (``meta_info`` for the disk backend) and each is at least ``crop_pad_size`` on
        each side (BasicSR would pad it by reflection).

        Args:
            key (str): The data set's name in messages, e.g. 'datasets.train'.
        """
        sizes = hr_sizes(self.dataroot_gt, self.io_backend['type'], self.meta_info, key)
        small = [(name, size) for name, size in sizes.items() if size is not None and min(size) < self.crop_pad_size]
        if small:
            listed = ', '.join(f'{name} ({w}x{h})' for name, (h, w) in small[:3])
            raise OptionError(f'{key}: {len(small)} of {len(sizes)} HR images are smaller than crop_pad_size '
                              f'{self.crop_pad_size}: {listed}{", ..." if len(small) > 3 else ""}. Lower crop_pad_size '
                              f'or leave them out of {self.meta_info or "the LMDB"}.')


def listing_file(dataroot_gt, backend, meta_info, key):
    """The file that lists the HR images: the LMDB's meta_info.txt or ``meta_info``; an error when it is missing."""
    listing = osp.join(dataroot_gt, 'meta_info.txt') if backend == 'lmdb' else meta_info
    if listing is None:
        raise OptionError(f'{key}.meta_info is missing: the disk backend reads the HR files from it; write it with '
                          f'python scripts/generate_meta_info.py --input {dataroot_gt} --meta_info META_INFO.txt')
    if not osp.isfile(listing):
        raise OptionError(f'{key}: {listing} does not exist.')
    return listing


def hr_sizes(dataroot_gt, backend, meta_info, key):
    """HR image name -> (h, w) of a Real-ESRGAN data set, from the LMDB's meta_info.txt or the files' headers (None
    for a file whose header cannot be read: it is named when it is loaded).

    Args:
        dataroot_gt (str): HR folder (or .lmdb folder).
        backend (str): 'disk' or 'lmdb'.
        meta_info (str | None): Disk backend: the file listing the HR images.
        key (str): The data set's name in messages.

    Returns:
        dict: name -> (h, w) or None.
    """
    with open(listing_file(dataroot_gt, backend, meta_info, key)) as f:
        lines = [line.split() for line in f if line.strip()]
    if backend == 'lmdb':
        sizes = {}
        for fields in lines:
            match = re.match(r'\((\d+),(\d+),\d+\)', fields[1] if len(fields) > 1 else '')
            sizes[fields[0]] = (int(match.group(1)), int(match.group(2))) if match else None
        return sizes
    headers = {fields[0]: read_header(osp.join(dataroot_gt, fields[0])) for fields in lines}
    return {name: None if header is None else (header.height, header.width) for name, header in headers.items()}


def dataset_options(opt):
    """The data set's settings (``RealESRGANDatasetOptions``) from its options, keys of other sections left out."""
    known = {key: value for key, value in opt.items() if key in RealESRGANDatasetOptions.rules}
    return parse_once(RealESRGANDatasetOptions, known, f'datasets.{opt.get("phase")}')


def with_defaults(opt):
    """The data set options with the section's defaults filled in (BasicSR's ``__init__`` reads every key)."""
    return dict(opt, **vars(dataset_options(opt)))
