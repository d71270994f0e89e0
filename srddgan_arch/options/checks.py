"""Checks of an SRDDGAN option dict: one clear error per mistake, naming the key, each check run once.

BasicSR passes YAML sections to constructors as keyword arguments and fails late (a TypeError deep in a build, or a
KeyError at the first validation). Two moments catch that early:

- ``check_run_options`` when a train.py / test.py run parses its option file (before BasicSR builds the data):
  data folders, LMDB meta_info files, the trained generator of a test run;
- ``parse_model_options`` when SRDDGANModel is built (before any network): the typed sections (``sections.py``),
  the constructor sections against their constructors' keyword arguments, sizes and scales, the metrics.
"""
import inspect
from numbers import Real
from os import path as osp
from typing import NamedTuple

import torch
from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY

from srddgan_arch.metrics.lpips_metric import locate_backbone
from srddgan_arch.options.schema import OptionError, Rule, suggest
from srddgan_arch.options.sections import SCHEDULERS, DiffusionOptions, LRConsistencyOptions, TrainOptions, ValOptions

# metrics that score LPIPS distances: their backbone file is looked up before training starts
LPIPS_METRICS = ('calculate_lpips', 'calculate_diversity')
# metrics of the spread of several samples per LR image
SPREAD_METRICS = ('calculate_diversity', 'calculate_sample_std')
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


def _parse_val(val_opt):
    """``val`` as ValOptions, with its metrics checked (registered, arguments, LPIPS backbone file)."""
    val = ValOptions.from_dict(val_opt)
    for name, metric_opt in (val.metrics or {}).items():
        key = f'val.metrics.{name}'
        function = _registered(key, metric_opt, METRIC_REGISTRY)
        check_constructor_section(key, metric_opt, function, skip=('type', 'better'))
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


def check_run_options(opt):
    """What a train.py / test.py run of SRDDGANModel needs before BasicSR builds the data sets: the data folders
    (and LMDB meta_info.txt, meta_info_file) exist; a test run names the trained generator.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.
    """
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        io_backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
        for key in ('dataroot_gt', 'dataroot_lq'):
            _check_folder(f'datasets.{phase}.{key}', dataset_opt.get(key), io_backend)
        meta_info = dataset_opt.get('meta_info_file')
        if meta_info is not None and not osp.isfile(meta_info):
            raise OptionError(f'datasets.{phase}.meta_info_file: {meta_info} does not exist.')
    if not opt.get('is_train') and not (opt.get('path') or {}).get('pretrain_network_g'):
        raise OptionError('path.pretrain_network_g is missing: testing would sample from a random generator. Give '
                          'the trained net_g_*.pth (its params_ema are used with param_key_g: params_ema).')


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
    SRDDGANModel.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them (changed in place).
    """
    resolve_total_batch(opt)
    if opt.get('model_type') == 'SRDDGANModel':
        check_run_options(opt)
