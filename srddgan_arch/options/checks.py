"""Checks of an option dict of srddgan's models: one clear error per mistake, naming the key.

BasicSR passes YAML sections to constructors as keyword arguments and fails late (a TypeError deep in a build, or a
KeyError at the first validation), and ignores keys it does not know. Three moments catch that early:

- ``check_option_keys`` on the raw file, before BasicSR parses it: the top-level key names;
- ``check_run_options`` when a train.py / test.py run has parsed it, before BasicSR builds anything: every section
  the run reads (top level, datasets, path, logger, dist_params, and the model's sections), the data folders and one
  HR/LR pair of each data set against the scale and gt_size, the weights to load;
- ``parse_model_options`` when SRDDGANModel is built (before any network): the typed sections (``sections.py``),
  the constructor sections against their constructors' keyword arguments, sizes and scales, the metrics; it returns
  the typed settings the model reads (a parsed run checked them already).
"""
import inspect
import os
import re
from numbers import Real
from os import path as osp
from typing import NamedTuple

import torch
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY

from srddgan_arch.data.degradations import DegradationOptions
from srddgan_arch.data.image_io import IMAGE_EXTENSIONS, BadImageError, read_header, read_image
from srddgan_arch.metrics.lpips_metric import locate_backbone
from srddgan_arch.options.realesrgan import RealESRGANDatasetOptions
from srddgan_arch.options.schema import OptionError, Rule, suggest
from srddgan_arch.options.sections import (
    SCHEDULERS,
    DatasetOptions,
    DegradedDatasetOptions,
    DiffusionOptions,
    DistOptions,
    LoggerOptions,
    LRConsistencyOptions,
    PairedDatasetOptions,
    PathOptions,
    RunOptions,
    TrainOptions,
    ValOptions,
    WandbOptions,
)

# metrics that score LPIPS distances: their backbone file is looked up before training starts
LPIPS_METRICS = ('calculate_lpips', 'calculate_diversity')
# metrics of the spread of several samples per LR image
SPREAD_METRICS = ('calculate_diversity', 'calculate_sample_std')
# what validation passes to a metric; its other arguments come from the metric's YAML entry
METRIC_DATA_ARGUMENTS = ('img', 'img2', 'lq', 'samples')
# the models whose option files srddgan checks (BasicSR's own models are left to BasicSR)
CHECKED_MODELS = ('SRDDGANModel', 'SRBaselineModel')
# data set type -> the section of its keys; other types get their loader keys checked only
DATASET_SECTIONS = {'PairedImageDataset': PairedDatasetOptions, 'SRDDGANPairedDataset': PairedDatasetOptions,
                    'SRDDGANDegradedDataset': DegradedDatasetOptions,
                    'SRDDGANRealESRGANDataset': RealESRGANDatasetOptions,
                    'RealESRGANDataset_basicsr': RealESRGANDatasetOptions}
# phases BasicSR's pipelines build data sets for (the part before '_'), training and testing
PHASES = {True: ('train', 'val'), False: ('val', 'test')}
_POSITIVE_INT = Rule(int, gt=0)


class ModelSettings(NamedTuple):
    """The typed sections of an SRDDGAN option dict.

    Args:
        diffusion (DiffusionOptions): The schedule's settings.
        train (TrainOptions | None): Training settings; None for a test run.
        val (ValOptions): Validation settings.
        lr_consistency (LRConsistencyOptions): The sampler's LR-consistency settings.
    """

    diffusion: DiffusionOptions
    train: TrainOptions | None
    val: ValOptions
    lr_consistency: LRConsistencyOptions


def _type_name(value):
    return type(value).__name__


def _default_matches(default, value):
    """Whether ``value`` has the kind of type of a constructor's default (numbers mix, lists and tuples mix)."""
    if default is None or default is inspect.Parameter.empty or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, Real):
        return isinstance(value, Real) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def constructor_parameters(cls):
    """Keyword parameters of ``cls`` (a class or function) -> default; None when it takes ``**kwargs``."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {name: p.default for name, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def check_constructor_section(section, section_opt, cls, skip=('type', )):
    """Keys of a YAML section vs the keyword arguments of the class it builds, value types vs their defaults.

    Args:
        section (str): The section's name in messages, e.g. 'network_g'.
        section_opt (dict): The section.
        cls (type): The class (or function) the section's keys are passed to.
        skip (tuple[str]): Keys that are not constructor arguments. Default: ('type',).
    """
    params = constructor_parameters(cls)
    if params is None:
        return
    for key, value in section_opt.items():
        if key in skip:
            continue
        if key not in params:
            raise OptionError(f'{section}.{key} is not an argument of {cls.__name__}.{suggest(key, params)} '
                              f'Accepted: {", ".join(k for k in params if k not in ("params", "self"))}.')
        if not _default_matches(params[key], value):
            raise OptionError(f'{section}.{key} must be like its default {params[key]!r} '
                              f'({_type_name(params[key])}), got {value!r} ({_type_name(value)}).')


def _registered(section, section_opt, registry):
    """The class named by ``<section>.type`` in ``registry``."""
    if not isinstance(section_opt, dict) or 'type' not in section_opt:
        raise OptionError(f'{section} must be a mapping with a type key, got {section_opt!r}.')
    try:
        return registry.get(section_opt['type'])
    except KeyError:
        raise OptionError(f'{section}.type: {section_opt["type"]!r} is not registered in BasicSR\'s '
                          f'{registry._name} registry.{suggest(str(section_opt["type"]), registry._obj_map)}') from None


def _check_registered_section(section, section_opt, registry):
    check_constructor_section(section, section_opt, _registered(section, section_opt, registry))


def _check_optimizer(section, optim_opt):
    optim_type = optim_opt.get('type')
    optim_class = getattr(torch.optim, str(optim_type), None)
    if not (isinstance(optim_class, type) and issubclass(optim_class, torch.optim.Optimizer)):
        raise OptionError(f'{section}.type: {optim_type!r} is not a torch.optim optimiser (e.g. AdamW).')
    if 'lr' not in optim_opt:
        raise OptionError(f'{section}.lr is missing.')
    Rule(float).check(f'{section}.lr', optim_opt['lr'])
    check_constructor_section(section, optim_opt, optim_class, skip=('type', 'params'))


def _parse_train(train_opt):
    """``train`` as TrainOptions, with its optimisers, losses and scheduler checked."""
    train = TrainOptions.from_dict(train_opt)
    _check_optimizer('train.optim_g', train.optim_g)
    _check_optimizer('train.optim_d', train.optim_d)
    for key in ('content_style_opt', 'pixel_opt'):
        if getattr(train, key):
            _check_registered_section(f'train.{key}', getattr(train, key), LOSS_REGISTRY)
    if train.scheduler and train.scheduler.get('type') not in SCHEDULERS:
        raise OptionError(f'train.scheduler.type must be one of {", ".join(SCHEDULERS)}, '
                          f'got {train.scheduler.get("type")!r}.')
    return train


def _check_metric(key, metric_opt, function):
    """A metric entry against the metric function's signature: every key a named argument (BasicSR's metrics take
    ``**kwargs``, which would swallow a misspelt key until the first validation), every argument without default
    given."""
    params = {name: p for name, p in inspect.signature(function).parameters.items()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in METRIC_DATA_ARGUMENTS}
    for name, value in metric_opt.items():
        if name in ('type', 'better'):
            continue
        if name not in params:
            raise OptionError(f'{key}.{name} is not an argument of {function.__name__}.{suggest(name, params)} '
                              f'Accepted: {", ".join(params) or "none"}.')
        if not _default_matches(params[name].default, value):
            raise OptionError(f'{key}.{name} must be like its default {params[name].default!r}, got {value!r} '
                              f'({_type_name(value)}).')
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and name not in metric_opt:
            raise OptionError(f'{key}.{name} is missing: {function.__name__} has no default for it.')


def _parse_val(val_opt):
    """``val`` as ValOptions, with its metrics checked (registered, arguments, LPIPS backbone file)."""
    val = ValOptions.from_dict(val_opt)
    for name, metric_opt in (val.metrics or {}).items():
        key = f'val.metrics.{name}'
        function = _registered(key, metric_opt, METRIC_REGISTRY)
        _check_metric(key, metric_opt, function)
        if metric_opt['type'] in LPIPS_METRICS:
            try:
                locate_backbone(metric_opt.get('net', 'alex'), metric_opt.get('backbone_path'))
            except (FileNotFoundError, ValueError) as error:
                raise OptionError(f'{key}: {error}') from None
        if metric_opt['type'] in SPREAD_METRICS and val.num_samples < 2:
            raise OptionError(f'{key}: {metric_opt["type"]} needs val.num_samples >= 2 samples per LR image, '
                              f'got {val.num_samples}.')
    return val


def _generator_setting(opt, key):
    """A network_g setting as used: the YAML value or the constructor default."""
    if key in opt['network_g']:
        return opt['network_g'][key]
    params = constructor_parameters(ARCH_REGISTRY.get(opt['network_g']['type'])) or {}
    default = params.get(key, inspect.Parameter.empty)
    return None if default is inspect.Parameter.empty else default


def _check_sizes(opt):
    """Scale of the options vs the networks'; HR crop size vs the scale and the U-Net depth."""
    scale, g_scale = opt.get('scale'), _generator_setting(opt, 'scale')
    Rule(int, nullable=True, gt=0).check('scale', scale)
    if scale is not None and g_scale is not None and scale != g_scale:
        raise OptionError(f'scale is {scale} but network_g.scale is {g_scale}: they must be equal.')
    d_scale = (opt.get('network_d') or {}).get('scale')
    if scale is not None and d_scale is not None and scale != d_scale:
        raise OptionError(f'scale is {scale} but network_d.scale is {d_scale}: they must be equal.')
    ch_mult = _generator_setting(opt, 'ch_mult')
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        gt_size = dataset_opt.get('gt_size')
        if gt_size is None:
            continue
        key = f'datasets.{phase}.gt_size'
        _POSITIVE_INT.check(key, gt_size)
        if scale and gt_size % scale:
            raise OptionError(f'{key} = {gt_size} is not divisible by scale {scale}: the LR crop would not be whole.')
        factor = 2**(len(ch_mult) - 1) if ch_mult else 1
        if gt_size % factor:
            raise OptionError(f'{key} = {gt_size} must be divisible by {factor} = 2**(len(network_g.ch_mult) - 1), '
                              f'the U-Net downsamples {len(ch_mult) - 1} times.')


def _check_frozen_encoder(opt):
    """A frozen LR encoder needs pretrained weights from somewhere."""
    path_opt = opt.get('path') or {}
    network_g = opt.get('network_g') or {}
    if (opt.get('is_train') and network_g.get('freeze_encoder') and not network_g.get('encoder_pretrained_path')
            and not path_opt.get('pretrain_network_g') and not path_opt.get('resume_state')):
        raise OptionError('network_g.freeze_encoder is true but no weights reach the encoder: set network_g.'
                          'encoder_pretrained_path (a BasicSR RRDBNet checkpoint) or path.pretrain_network_g.')


def parse_model_options(opt):
    """Check the model sections of an SRDDGAN option dict and return its typed settings; raise
    :class:`OptionError` (a ValueError) on the first mistake: unknown or misspelt keys of network_g / network_d /
    diffusion / train / val / lr_consistency, wrong value types or bounds, a gt_size not divisible by the scale or by
    2**(levels - 1), a scale different from the networks', unusable metrics, a frozen encoder without weights.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.

    Returns:
        ModelSettings: The diffusion, train (None unless training), val and lr_consistency settings.
    """
    _check_registered_section('network_g', opt.get('network_g'), ARCH_REGISTRY)
    diffusion = DiffusionOptions.from_dict(opt.get('diffusion'))
    train = None
    if opt.get('is_train'):
        _check_registered_section('network_d', opt.get('network_d'), ARCH_REGISTRY)
        train = _parse_train(opt.get('train'))
    _check_sizes(opt)
    val = _parse_val(opt.get('val'))
    _check_frozen_encoder(opt)
    return ModelSettings(diffusion, train, val, LRConsistencyOptions.from_dict(opt.get('lr_consistency')))


def _check_folder(key, folder, io_backend):
    if folder is None:
        return
    if not osp.isdir(folder):
        raise OptionError(f'{key}: data folder {folder} does not exist '
                          f'(relative paths are read from {osp.abspath(".")}).')
    if io_backend == 'lmdb' and not osp.isfile(osp.join(folder, 'meta_info.txt')):
        raise OptionError(f'{key}: LMDB {folder} has no meta_info.txt; create it with the data preparation script.')


def check_option_keys(opt):
    """The top-level key names of a raw option file of srddgan's models, before BasicSR parses it (BasicSR reads
    some of them unguarded: a misspelt ``path`` would be a bare KeyError).

    Args:
        opt (dict): The option file as YAML loads it.
    """
    if isinstance(opt, dict) and opt.get('model_type') in CHECKED_MODELS:
        RunOptions.check_keys(opt)


def _check_logger(logger_opt):
    logger = LoggerOptions.from_dict(logger_opt)
    wandb = WandbOptions.from_dict(logger.wandb)
    if wandb.project is not None and not logger.use_tb_logger:
        raise OptionError('logger.wandb.project needs logger.use_tb_logger: true (wandb syncs the tensorboard log).')


def _check_datasets(opt):
    """Phases, types and keys of every data set; the keys BasicSR reads unguarded in training are required."""
    is_train = bool(opt.get('is_train'))
    if is_train and 'train' not in opt['datasets']:
        raise OptionError('datasets.train is missing: a training run needs it.')
    for phase, dataset_opt in opt['datasets'].items():
        key = f'datasets.{phase}'
        if phase.split('_')[0] not in PHASES[is_train]:
            raise OptionError(f'{key}: a {"training" if is_train else "test"} run builds the phases '
                              f'{" and ".join(f"{p}, {p}_*" for p in PHASES[is_train])}.')
        _registered(key, dataset_opt, DATASET_REGISTRY)
        section = DATASET_SECTIONS.get(dataset_opt['type'])
        if section is None:  # another type: its own keys are unknown here, those of the data loader are checked
            for name, rule in DatasetOptions.rules.items():
                if name in dataset_opt:
                    rule.check(f'{key}.{name}', dataset_opt[name])
            continue
        settings = section.from_dict(dataset_opt, key)
        if opt.get('scale') is None:
            raise OptionError(f'scale is missing: {key} ({dataset_opt["type"]}) needs it.')
        required = ('gt_size', 'use_hflip', 'use_rot', 'batch_size_per_gpu', 'num_worker_per_gpu')
        for name in required if phase == 'train' else ():
            if getattr(settings, name) is None:
                raise OptionError(f'{key}.{name} is missing: training reads it.')
        if hasattr(settings, 'check_with_run'):  # a data set whose keys depend on other sections and its images
            settings.check_with_run(opt, key)
        if section is DegradedDatasetOptions:
            try:
                DegradationOptions.from_dict(settings.degradation, opt['scale'])
            except (KeyError, ValueError, TypeError) as error:
                raise OptionError(f'{key}.{error.args[0]}') from None


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


def _first_pair(dataset_opt):
    """(HR name, HR size, LR name, LR size) of one sample of a data set, paired as BasicSR pairs them; the LR ones
    are None for HR-only data sets; None when a bad image is to be skipped (``skip_bad_images``)."""
    gt_folder, lq_folder = dataset_opt['dataroot_gt'], dataset_opt.get('dataroot_lq')
    if dataset_opt['io_backend'].get('type') == 'lmdb':
        first = _lmdb_size(gt_folder)
        if first is None:
            raise OptionError(f'{dataset_opt["name"]}: the meta_info.txt of {gt_folder} lists no image.')
        if lq_folder is None:
            return f'{gt_folder}:{first[0]}', first[1], None, None
        lq = _lmdb_size(lq_folder, first[0])
        if lq is None:
            raise OptionError(f'{dataset_opt["name"]}: LMDB {lq_folder} has no key {first[0]} of {gt_folder}.')
        return f'{gt_folder}:{first[0]}', first[1], f'{lq_folder}:{first[0]}', lq[1]
    if dataset_opt.get('meta_info_file'):
        with open(dataset_opt['meta_info_file']) as f:
            gt_name = next((line.split()[0] for line in f if line.strip()), None)
    else:
        with os.scandir(gt_folder) as entries:
            gt_name = next((e.name for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)),
                           None)
    if gt_name is None:
        raise OptionError(f'{dataset_opt["name"]}: no images in {gt_folder}.')
    skip_bad = dataset_opt.get('skip_bad_images', False)
    gt_path = osp.join(gt_folder, gt_name)
    lq_path = None
    if lq_folder is not None:
        stem, ext = osp.splitext(osp.basename(gt_name))
        lq_path = osp.join(lq_folder, f'{dataset_opt.get("filename_tmpl", "{}").format(stem)}{ext}')
        if not osp.isfile(lq_path):
            raise OptionError(f'{dataset_opt["name"]}: the LR of {gt_path}, {lq_path}, does not exist '
                              '(dataroot_lq, filename_tmpl).')
    sizes = [_disk_size(path, skip_bad) for path in (gt_path, lq_path) if path is not None]
    if None in sizes:
        return None
    return gt_path, sizes[0], lq_path, sizes[1] if lq_path else None


def _check_first_pair(phase, dataset_opt, scale):
    """One HR/LR pair of a data set against the scale (LR data of another scale) and gt_size (crops too small)."""
    pair = _first_pair(dataset_opt)
    if pair is None:
        return
    gt_path, (gt_h, gt_w), lq_path, lq_size = pair
    if lq_size is not None:
        lq_h, lq_w = lq_size
        if not (lq_h * scale <= gt_h < (lq_h + 1) * scale and lq_w * scale <= gt_w < (lq_w + 1) * scale):
            raise OptionError(f'datasets.{phase}: HR {gt_path} is {gt_w}x{gt_h} and LR {lq_path} {lq_w}x{lq_h}, a '
                              f'scale of {gt_h / lq_h:g}, but scale is {scale}: give LR data made for x{scale} '
                              f'(dataroot_lq) or set scale.')
    gt_size = dataset_opt.get('gt_size')
    if phase == 'train' and gt_size is not None and gt_size > min(gt_h, gt_w):
        raise OptionError(f'datasets.{phase}.gt_size = {gt_size} is larger than the HR images ({gt_path} is '
                          f'{gt_w}x{gt_h}): lower gt_size or prepare larger HR images.')


def _check_data(opt):
    """The data folders (and LMDB meta_info.txt, meta_info_file) exist; one pair per data set fits the options."""
    for phase, dataset_opt in opt['datasets'].items():
        io_backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
        for key in ('dataroot_gt', 'dataroot_lq'):
            _check_folder(f'datasets.{phase}.{key}', dataset_opt.get(key), io_backend)
        meta_info = dataset_opt.get('meta_info_file')
        if meta_info is not None and not osp.isfile(meta_info):
            raise OptionError(f'datasets.{phase}.meta_info_file: {meta_info} does not exist.')
        if dataset_opt['type'] in DATASET_SECTIONS:
            _check_first_pair(phase, dataset_opt, opt['scale'])


def _check_weights(opt, path):
    """The weights to load exist; a test run loads a trained generator."""
    if not opt.get('is_train') and not path.pretrain_network_g:
        raise OptionError('path.pretrain_network_g is missing: testing would sample from a random generator. Give '
                          'the trained net_g_*.pth (its params_ema are used with param_key_g: params_ema).')
    if opt.get('auto_resume') or path.resume_state:  # a resume loads the networks of its state instead
        return
    for key in ('pretrain_network_g', 'pretrain_network_d'):
        if getattr(path, key) is not None and not osp.isfile(getattr(path, key)):
            raise OptionError(f'path.{key}: {getattr(path, key)} does not exist.')


def check_data_sets(opt):
    """The ``datasets`` section alone: types and keys, folders, one HR/LR pair against ``scale`` and gt_size.

    Args:
        opt (dict): Options with ``datasets``, ``scale`` and ``is_train``.
    """
    _check_datasets(opt)
    _check_data(opt)


def check_run_options(opt):
    """Every section a train.py / test.py run of srddgan's models reads, before BasicSR builds anything: the top
    level, the data sets (types, keys, folders, one HR/LR pair against scale and gt_size), path (the weights to load
    exist; a test run names the trained generator), logger (training), dist_params, and the model's sections
    (``parse_model_options`` for SRDDGANModel; network_g and val for SRBaselineModel).

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.
    """
    RunOptions.from_dict(opt)
    path = PathOptions.from_dict(opt['path'])
    if opt.get('is_train'):
        _check_logger(opt.get('logger'))
        if opt.get('val') is not None and 'val_freq' not in (opt['val'] or {}):
            raise OptionError('val.val_freq is missing: a training run validates every val_freq iterations.')
    DistOptions.from_dict(opt.get('dist_params'))
    _check_datasets(opt)
    if opt['model_type'] == 'SRDDGANModel':
        parse_model_options(opt)
    else:
        _check_registered_section('network_g', opt['network_g'], ARCH_REGISTRY)
        _parse_val(opt.get('val'))
    _check_weights(opt, path)
    _check_data(opt)


def resolve_total_batch(opt):
    """``train.total_batch`` (the batch over all processes, as papers state it) -> ``batch_size_per_gpu``.

    With it an option file gives the same batch on 1, 4 or 8 GPUs. A ``batch_size_per_gpu`` that contradicts it is
    an error; without ``total_batch`` nothing changes.

    Args:
        opt (dict): Parsed options with ``world_size``; ``datasets.train.batch_size_per_gpu`` is set in place.
    """
    total = (opt.get('train') or {}).get('total_batch')
    if total is None or 'train' not in (opt.get('datasets') or {}):
        return
    _POSITIVE_INT.check('train.total_batch', total)
    world_size = opt.get('world_size', 1)
    if total % world_size:
        raise OptionError(f'train.total_batch = {total} is not divisible by the {world_size} processes.')
    train_set = opt['datasets']['train']
    per_gpu = train_set.get('batch_size_per_gpu')
    if per_gpu is not None and per_gpu * world_size != total:
        raise OptionError(f'datasets.train.batch_size_per_gpu = {per_gpu} x {world_size} processes is not '
                          f'train.total_batch = {total}: remove batch_size_per_gpu (it is derived) or make them agree.')
    train_set['batch_size_per_gpu'] = total // world_size


def prepare_run_options(opt):
    """srddgan's part of parsing a run's option file: ``resolve_total_batch``, and ``check_run_options`` for
    srddgan's models.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them (changed in place).
    """
    resolve_total_batch(opt)
    if opt.get('model_type') in CHECKED_MODELS:
        check_run_options(opt)
