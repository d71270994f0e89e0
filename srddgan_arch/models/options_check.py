"""Checks of an SRDDGAN option dict, run before anything is built: one clear error per mistake, naming the key.

BasicSR passes YAML sections to constructors as keyword arguments and fails late (a TypeError deep in a build, or a
KeyError at the first validation). Here the keys of our sections are compared with the constructor signatures they
feed, value types with the constructor defaults, and sizes, scales and data paths with each other.
"""
import difflib
import inspect
from numbers import Real
from os import path as osp

import torch
from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY

from srddgan_arch.diffusion import DiffusionSchedule
from srddgan_arch.metrics.lpips_metric import locate_backbone

# train keys read by SRDDGANModel or BasicSR's train pipeline: key -> (expected type or check, description)
_NUMBER = (Real, 'a number')
_POSITIVE_INT = (int, 'a positive int')
TRAIN_KEYS = {
    'total_iter': _POSITIVE_INT,
    'warmup_iter': (int, 'an int (-1: no warm-up)'),
    'ema_decay': _NUMBER,
    'gan_weight': _NUMBER,
    'r1_gamma': _NUMBER,
    'lazy_reg': _POSITIVE_INT,
    'd_steps_per_g_step': _POSITIVE_INT,
    'grad_clip': (Real, 'a positive number or null'),
    'use_amp': (bool, 'true or false'),
    'amp_dtype': (str, "'bfloat16' or 'float16'"),
    'max_nonfinite_steps': (int, 'an int (0: never stop)'),
    'total_batch': _POSITIVE_INT,
    'optim_g': (dict, 'a mapping with type and lr'),
    'optim_d': (dict, 'a mapping with type and lr'),
    'scheduler': (dict, 'a mapping with type'),
    'content_style_opt': (dict, 'a mapping with type'),
    'pixel_opt': (dict, 'a mapping with type'),
}
VAL_KEYS = {
    'val_freq': (Real, 'a number of iterations'),
    'save_img': (bool, 'true or false'),
    'suffix': (str, 'a string or null'),
    'pbar': (bool, 'true or false'),
    'num_samples': _POSITIVE_INT,
    'seed': (int, 'an int or null'),
    'metrics': (dict, 'a mapping of metric name -> options'),
}
# keys of the typed sections that may be null (the others would fail at the first iteration)
NULLABLE_KEYS = {'grad_clip', 'scheduler', 'content_style_opt', 'pixel_opt', 'suffix', 'seed', 'metrics'}
SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')
AMP_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}
# metrics that score LPIPS distances: their backbone file is looked up before training starts
LPIPS_METRICS = ('calculate_lpips', 'calculate_diversity')


class OptionError(ValueError):
    """An option is unknown, misspelt, of the wrong type or inconsistent with another one."""


def _suggest(key, known):
    close = difflib.get_close_matches(key, known, n=1)
    return f' Did you mean {close[0]!r}?' if close else ''


def _type_name(value):
    return type(value).__name__


def _check_value_type(key, value, expected, description):
    """``value`` must be an instance of ``expected`` (bool is not a number); None is accepted."""
    if value is None:
        return
    is_bool = isinstance(value, bool)
    if not isinstance(value, expected) or (is_bool and expected is not bool):
        hint = ' (YAML reads 1e-4 as a string: write 1.0e-4)' if isinstance(value, str) and expected is Real else ''
        raise OptionError(f'{key} must be {description}, got {value!r} ({_type_name(value)}){hint}.')
    if description.startswith('a positive') and value <= 0:
        raise OptionError(f'{key} must be {description}, got {value!r}.')


def _check_known_keys(section, section_opt, known):
    for key in section_opt:
        if key not in known:
            raise OptionError(f'Unknown option {section}.{key}.{_suggest(key, list(known))} '
                              f'Known keys: {", ".join(sorted(known))}.')


def _check_typed_section(section, section_opt, schema):
    if not isinstance(section_opt, dict):
        raise OptionError(f'{section} must be a mapping, got {_type_name(section_opt)}.')
    _check_known_keys(section, section_opt, schema)
    for key, value in section_opt.items():
        if value is None and key not in NULLABLE_KEYS:
            raise OptionError(f'{section}.{key} must be {schema[key][1]}, got null.')
        _check_value_type(f'{section}.{key}', value, *schema[key])


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
            raise OptionError(f'{section}.{key} is not an argument of {cls.__name__}.{_suggest(key, list(params))} '
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
        known = list(registry._obj_map)
        raise OptionError(f'{section}.type: {section_opt["type"]!r} is not registered in BasicSR\'s '
                          f'{registry._name} registry.{_suggest(str(section_opt["type"]), known)}') from None


def _check_registered_section(section, section_opt, registry):
    check_constructor_section(section, section_opt, _registered(section, section_opt, registry))


def _check_optimizer(section, optim_opt):
    optim_type = optim_opt.get('type')
    optim_class = getattr(torch.optim, str(optim_type), None)
    if not (isinstance(optim_class, type) and issubclass(optim_class, torch.optim.Optimizer)):
        raise OptionError(f'{section}.type: {optim_type!r} is not a torch.optim optimiser (e.g. AdamW).')
    if 'lr' not in optim_opt:
        raise OptionError(f'{section}.lr is missing.')
    _check_value_type(f'{section}.lr', optim_opt['lr'], Real, 'a number')
    check_constructor_section(section, optim_opt, optim_class, skip=('type', 'params'))


def _check_train(train_opt):
    _check_typed_section('train', train_opt, TRAIN_KEYS)
    for key in ('total_iter', 'optim_g', 'optim_d'):
        if key not in train_opt:
            raise OptionError(f'train.{key} is missing.')
    _check_optimizer('train.optim_g', train_opt['optim_g'])
    _check_optimizer('train.optim_d', train_opt['optim_d'])
    for key in ('content_style_opt', 'pixel_opt'):
        if train_opt.get(key):
            _check_registered_section(f'train.{key}', train_opt[key], LOSS_REGISTRY)
    scheduler = train_opt.get('scheduler')
    if scheduler and scheduler.get('type') not in SCHEDULERS:
        raise OptionError(f'train.scheduler.type must be one of {", ".join(SCHEDULERS)}, '
                          f'got {scheduler.get("type")!r}.')
    if train_opt.get('amp_dtype', 'bfloat16') not in AMP_DTYPES:
        raise OptionError(f'train.amp_dtype must be one of {", ".join(AMP_DTYPES)}, got {train_opt["amp_dtype"]!r}.')
    if not 0 <= train_opt.get('ema_decay', 0) < 1:
        raise OptionError(f'train.ema_decay must be in [0, 1), got {train_opt["ema_decay"]!r}.')


def _check_diffusion(diffusion_opt):
    if diffusion_opt is None:
        return
    if not isinstance(diffusion_opt, dict):
        raise OptionError(f'diffusion must be a mapping, got {_type_name(diffusion_opt)}.')
    check_constructor_section('diffusion', diffusion_opt, DiffusionSchedule, skip=())
    num_timesteps = diffusion_opt.get('num_timesteps', 4)
    if not isinstance(num_timesteps, int) or isinstance(num_timesteps, bool) or num_timesteps < 1:
        raise OptionError(f'diffusion.num_timesteps must be an int >= 1, got {num_timesteps!r}.')


def _generator_setting(opt, key):
    """A network_g setting as used: the YAML value or the constructor default."""
    if key in opt['network_g']:
        return opt['network_g'][key]
    params = constructor_parameters(ARCH_REGISTRY.get(opt['network_g']['type'])) or {}
    default = params.get(key, inspect.Parameter.empty)
    return None if default is inspect.Parameter.empty else default


def _check_sizes(opt):
    """Scale of the options vs the generator's; HR crop size vs the scale and the U-Net depth."""
    scale, g_scale = opt.get('scale'), _generator_setting(opt, 'scale')
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
        _check_value_type(key, gt_size, int, 'a positive int')
        if scale and gt_size % scale:
            raise OptionError(f'{key} = {gt_size} is not divisible by scale {scale}: the LR crop would not be whole.')
        factor = 2**(len(ch_mult) - 1) if ch_mult else 1
        if gt_size % factor:
            raise OptionError(f'{key} = {gt_size} must be divisible by {factor} = 2**(len(network_g.ch_mult) - 1), '
                              f'the U-Net downsamples {len(ch_mult) - 1} times.')


def _check_folder(key, folder, io_backend):
    if folder is None:
        return
    if not osp.isdir(folder):
        raise OptionError(f'{key}: data folder {folder} does not exist '
                          f'(relative paths are read from {osp.abspath(".")}).')
    if io_backend == 'lmdb' and not osp.isfile(osp.join(folder, 'meta_info.txt')):
        raise OptionError(f'{key}: LMDB {folder} has no meta_info.txt; create it with the data preparation script.')


def _check_datasets(opt):
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        io_backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
        for key in ('dataroot_gt', 'dataroot_lq'):
            _check_folder(f'datasets.{phase}.{key}', dataset_opt.get(key), io_backend)
        meta_info = dataset_opt.get('meta_info_file')
        if meta_info is not None and not osp.isfile(meta_info):
            raise OptionError(f'datasets.{phase}.meta_info_file: {meta_info} does not exist.')


def _check_val(val_opt):
    if val_opt is None:
        return
    _check_typed_section('val', val_opt, VAL_KEYS)
    for name, metric_opt in (val_opt.get('metrics') or {}).items():
        key = f'val.metrics.{name}'
        function = _registered(key, metric_opt, METRIC_REGISTRY)
        check_constructor_section(key, metric_opt, function, skip=('type', 'better'))
        if metric_opt['type'] in LPIPS_METRICS:
            try:
                locate_backbone(metric_opt.get('net', 'alex'), metric_opt.get('backbone_path'))
            except (FileNotFoundError, ValueError) as error:
                raise OptionError(f'{key}: {error}') from None
        if metric_opt['type'] == 'calculate_diversity' and val_opt.get('num_samples', 1) < 2:
            raise OptionError(f'{key}: diversity needs val.num_samples >= 2 samples per LR image, '
                              f'got {val_opt.get("num_samples", 1)}.')


def _check_frozen_encoder(opt):
    """A frozen LR encoder needs pretrained weights from somewhere."""
    path_opt = opt.get('path') or {}
    network_g = opt.get('network_g') or {}
    if (opt.get('is_train') and network_g.get('freeze_encoder') and not network_g.get('encoder_pretrained_path')
            and not path_opt.get('pretrain_network_g') and not path_opt.get('resume_state')):
        raise OptionError('network_g.freeze_encoder is true but no weights reach the encoder: set network_g.'
                          'encoder_pretrained_path (a BasicSR RRDBNet checkpoint) or path.pretrain_network_g.')


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
    _check_value_type('train.total_batch', total, int, 'a positive int')
    world_size = opt.get('world_size', 1)
    if total % world_size:
        raise OptionError(f'train.total_batch = {total} is not divisible by the {world_size} processes.')
    train_set = opt['datasets']['train']
    per_gpu = train_set.get('batch_size_per_gpu')
    if per_gpu is not None and per_gpu * world_size != total:
        raise OptionError(f'datasets.train.batch_size_per_gpu = {per_gpu} x {world_size} processes is not '
                          f'train.total_batch = {total}: remove batch_size_per_gpu (it is derived) or make them agree.')
    train_set['batch_size_per_gpu'] = total // world_size


def check_options(opt):
    """Check the SRDDGAN sections of a parsed option dict; raise :class:`OptionError` (a ValueError) on the first
    mistake: unknown or misspelt keys of network_g / network_d / diffusion / train / val, wrong value types, a gt_size
    not divisible by the scale or by 2**(levels - 1), a scale different from the generator's, a missing data folder
    or LMDB meta_info.txt, num_timesteps < 1.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.
    """
    _check_registered_section('network_g', opt.get('network_g'), ARCH_REGISTRY)
    _check_diffusion(opt.get('diffusion'))
    if opt.get('is_train'):
        _check_registered_section('network_d', opt.get('network_d'), ARCH_REGISTRY)
        _check_train(opt.get('train'))
    _check_value_type('scale', opt.get('scale'), int, 'a positive int')
    _check_sizes(opt)
    _check_datasets(opt)
    _check_val(opt.get('val'))
    _check_frozen_encoder(opt)


def check_run_options(opt):
    """``check_options`` for a train.py / test.py run; a test run must also name the trained generator.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.
    """
    check_options(opt)
    if not opt.get('is_train') and not (opt.get('path') or {}).get('pretrain_network_g'):
        raise OptionError('path.pretrain_network_g is missing: testing would sample from a random generator. Give '
                          'the trained net_g_*.pth (its params_ema are used with param_key_g: params_ema).')
