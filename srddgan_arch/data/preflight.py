"""The data of a run against its options, probed on disk before BasicSR builds the data sets: the folders, LMDB
environments (``lmdb_probe.py``), one HR/LR pair of each data set (sizes from the file headers or ``meta_info.txt``)
and, in training, the size of every HR image against ``gt_size``.

LR data of another scale (x2 LR with ``scale: 4``) or an HR image smaller than ``gt_size`` would otherwise fail at the
first batch, or mid-epoch with BasicSR's advice to delete a file.
"""
import os
import re
from os import path as osp

from srddgan_arch.data.image_files import IMAGE_EXTENSIONS, BadImageError, list_images
from srddgan_arch.data.image_io import read_header, read_image
from srddgan_arch.data.lmdb_probe import check_lmdb
from srddgan_arch.data.paired_dataset import ImageDatasetOptions
from srddgan_arch.data.realesrgan_options import hr_sizes
from srddgan_arch.options.runs import check_datasets, dataset_settings
from srddgan_arch.options.schema import OptionError
from srddgan_arch.options.signatures import NIQE_MIN_SIDE

# written into a split folder while it is prepared and removed last (hidden: no image listing sees it); the data
# preparation (srddgan_tools.prepare) writes it, training refuses a folder that holds it
INCOMPLETE_MARKER = '.incomplete'


def _check_folder(key, folder, io_backend):
    if folder is None:
        return
    if not osp.isdir(folder):
        raise OptionError(f'{key}: data folder {folder} does not exist '
                          f'(relative paths are read from {osp.abspath(".")}).')
    for split_dir in (folder, osp.dirname(osp.abspath(folder))):
        if osp.exists(osp.join(split_dir, INCOMPLETE_MARKER)):
            raise OptionError(f'{key}: {split_dir} is marked incomplete ({INCOMPLETE_MARKER}): its data preparation '
                              'was interrupted; remove the folder and prepare it again.')
    if io_backend == 'lmdb' and not osp.isfile(osp.join(folder, 'meta_info.txt')):
        raise OptionError(f'{key}: LMDB {folder} has no meta_info.txt; create it with the data preparation script.')
    if io_backend == 'lmdb':
        check_lmdb(key, folder)


def _lmdb_size(folder, key=None):
    """(LMDB key, (h, w)) of ``key`` (None: the first image) in an LMDB folder's meta_info.txt, or None."""
    with open(osp.join(folder, 'meta_info.txt')) as f:
        for line in f:
            match = re.match(r'(\S+?)\.\S*\s+\((\d+),(\d+),\d+\)', line)
            if match and key in (None, match.group(1)):
                return match.group(1), (int(match.group(2)), int(match.group(3)))
    return None


def _disk_size(path, skip_bad):
    """(h, w) of an image file from its header (or its pixels); None for a bad file with ``skip_bad_images``."""
    header = read_header(path)
    if header is not None:
        return header.height, header.width
    try:
        return read_image(path).img.shape[:2]
    except BadImageError:
        if skip_bad:
            return None
        raise


def _first_pair(settings):
    """(HR name, HR size, LR name, LR size) of one sample of a data set (``ImageDatasetOptions``), paired as BasicSR
    pairs them; the LR ones are None for HR-only data sets; None when a bad image is to be skipped."""
    gt_folder, lq_folder = settings.dataroot_gt, settings.image_folders().get('dataroot_lq')
    if settings.io_backend['type'] == 'lmdb':
        first = _lmdb_size(gt_folder)
        if first is None:
            raise OptionError(f'{settings.name}: the meta_info.txt of {gt_folder} lists no image.')
        if lq_folder is None:
            return f'{gt_folder}:{first[0]}', first[1], None, None
        lq = _lmdb_size(lq_folder, first[0])
        if lq is None:
            raise OptionError(f'{settings.name}: LMDB {lq_folder} has no key {first[0]} of {gt_folder}.')
        return f'{gt_folder}:{first[0]}', first[1], f'{lq_folder}:{first[0]}', lq[1]
    if settings.meta_info_file:
        with open(settings.meta_info_file) as f:
            gt_name = next((line.split()[0] for line in f if line.strip()), None)
    else:
        with os.scandir(gt_folder) as entries:
            gt_name = next((e.name for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)),
                           None)
    if gt_name is None:
        raise OptionError(f'{settings.name}: no images in {gt_folder}.')
    gt_path = osp.join(gt_folder, gt_name)
    lq_path = None
    if lq_folder is not None:
        stem, ext = osp.splitext(osp.basename(gt_name))
        lq_path = osp.join(lq_folder, f'{settings.filename_tmpl.format(stem)}{ext}')
        if not osp.isfile(lq_path):
            raise OptionError(f'{settings.name}: the LR of {gt_path}, {lq_path}, does not exist '
                              '(dataroot_lq, filename_tmpl).')
    sizes = [_disk_size(path, settings.skip_bad_images) for path in (gt_path, lq_path) if path is not None]
    if None in sizes:
        return None
    return gt_path, sizes[0], lq_path, sizes[1] if lq_path else None


def _check_first_pair(phase, settings, scale):
    """One HR/LR pair of a data set against the scale (LR data of another scale)."""
    pair = _first_pair(settings)
    if pair is None:
        return
    gt_path, (gt_h, gt_w), lq_path, lq_size = pair
    if lq_size is not None:
        lq_h, lq_w = lq_size
        if not (lq_h * scale <= gt_h < (lq_h + 1) * scale and lq_w * scale <= gt_w < (lq_w + 1) * scale):
            lmdb = settings.io_backend['type'] == 'lmdb'
            source = (' (sizes as the LMDB folders\' meta_info.txt list them: a meta_info.txt that does not '
                      'describe its LMDB gives this too)') if lmdb else ''
            raise OptionError(f'datasets.{phase}: HR {gt_path} is {gt_w}x{gt_h} and LR {lq_path} {lq_w}x{lq_h}, a '
                              f'scale of {gt_h / lq_h:g}, but scale is {scale}{source}: give LR data made for '
                              f'x{scale} (dataroot_lq) or set scale.')


def _hr_sizes(phase, settings):
    """HR image -> (h, w) of every image of a data set: the sizes ``meta_info.txt`` lists (LMDB), else the headers of
    the files ``meta_info_file`` lists or the folder holds (None where a header cannot be read: named when read)."""
    backend = settings.io_backend['type']
    if backend == 'lmdb' or settings.meta_info_file:
        sizes = hr_sizes(settings.dataroot_gt, backend, settings.meta_info_file, f'datasets.{phase}')
        return {osp.join(settings.dataroot_gt, name): size for name, size in sizes.items()}
    headers = {path: read_header(path) for path in list_images(settings.dataroot_gt)}
    return {path: None if header is None else (header.height, header.width) for path, header in headers.items()}


def _check_crop_size(phase, settings):
    """Every HR image of a training set is at least ``gt_size`` on each side (BasicSR's random crop fails mid-epoch
    on the first smaller one, advising to delete it)."""
    if not phase.startswith('train') or settings.gt_size is None:
        return
    sizes = _hr_sizes(phase, settings)
    small = [(name, size) for name, size in sizes.items() if size is not None and min(size) < settings.gt_size]
    if small:
        listed = ', '.join(f'{name} ({w}x{h})' for name, (h, w) in small[:3]) + (', ...' if len(small) > 3 else '')
        raise OptionError(f'datasets.{phase}.gt_size = {settings.gt_size} is larger than {len(small)} of the '
                          f'{len(sizes)} HR images: {listed}. Lower gt_size or leave them out of the data set.')


def _check_metric_sizes(opt):
    """The validation metrics against the size of the images they score: BasicSR's NIQE needs images of at least
    ``NIQE_MIN_SIDE`` pixels a side (it fails on the first smaller image, after the model sampled it)."""
    metrics = (opt.get('val') or {}).get('metrics') or {}
    niqe = [name for name, metric_opt in metrics.items() if metric_opt.get('type') == 'calculate_niqe']
    for phase, dataset_opt in opt['datasets'].items() if niqe else ():
        settings = dataset_settings(phase, dataset_opt, opt)
        pair = _first_pair(settings) if phase != 'train' and isinstance(settings, ImageDatasetOptions) else None
        if pair is not None and min(pair[1]) < NIQE_MIN_SIDE:
            raise OptionError(f'val.metrics.{niqe[0]}: BasicSR\'s NIQE needs images of at least {NIQE_MIN_SIDE}x'
                              f'{NIQE_MIN_SIDE} pixels, but datasets.{phase} has {pair[0]} of {pair[1][1]}x'
                              f'{pair[1][0]}: remove {niqe[0]} from val.metrics for these images.')


def check_data(opt):
    """The data folders (and LMDB meta_info.txt, meta_info_file) exist, LMDB environments are whole; one pair of each
    of srddgan's data sets fits the scale, and every HR image of a training set the crop size. Data sets of other
    types get the folders of their ``dataroot_gt`` / ``dataroot_lq`` keys checked. The validation metrics fit the
    images (NIQE's minimum size).

    Args:
        opt (dict): Options with ``datasets`` and ``scale``, their sections checked (``check_run_options``).
    """
    for phase, dataset_opt in opt['datasets'].items():
        settings = dataset_settings(phase, dataset_opt, opt)
        if isinstance(settings, ImageDatasetOptions):
            folders, meta_info, io_backend = settings.image_folders(), settings.meta_info_file, settings.io_backend
        else:
            folders = {key: dataset_opt[key] for key in ('dataroot_gt', 'dataroot_lq') if key in dataset_opt}
            meta_info, io_backend = dataset_opt.get('meta_info_file'), dataset_opt.get('io_backend') or {}
        for key, folder in folders.items():
            _check_folder(f'datasets.{phase}.{key}', folder, io_backend.get('type'))
        if meta_info is not None and not osp.isfile(meta_info):
            raise OptionError(f'datasets.{phase}.meta_info_file: {meta_info} does not exist.')
        if isinstance(settings, ImageDatasetOptions):
            _check_first_pair(phase, settings, opt['scale'])
            _check_crop_size(phase, settings)
        if hasattr(settings, 'check_images'):  # a data set with its own image checks (Real-ESRGAN's crop size)
            settings.check_images(f'datasets.{phase}')
    _check_metric_sizes(opt)


def check_data_sets(opt):
    """The ``datasets`` section alone: types and keys, folders, one HR/LR pair against ``scale``, HR sizes against
    gt_size.

    Args:
        opt (dict): Options with ``datasets``, ``scale`` and ``is_train``.
    """
    check_datasets(opt)
    check_data(opt)
