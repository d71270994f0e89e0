"""The model's sections of an SRDDGAN option dict, checked when the model is built and returned typed.

``parse_model_options`` reads ``diffusion``, ``train``, ``val``, ``lr_consistency`` and ``path`` through their
sections (``sections.py``), ``network_g`` / ``network_d`` / the losses / the optimisers / the metrics against what
they build (``signatures.py``), and the sizes and scales the networks need.
"""
import inspect
from typing import NamedTuple

from basicsr.utils.registry import ARCH_REGISTRY, METRIC_REGISTRY

from srddgan_arch.options.schema import OptionError, Rule
from srddgan_arch.options.sections import (
    SCHEDULERS,
    DiffusionOptions,
    LRConsistencyOptions,
    PathOptions,
    TrainOptions,
    ValOptions,
)
from srddgan_arch.options.signatures import (
    check_built_sections,
    check_metric,
    check_optimizer,
    check_registered_section,
    constructor_parameters,
    is_set_metric,
    registered,
    uses_lpips_backbone,
)
from srddgan_arch.utils.torchvision_weights import locate_backbone

POSITIVE_INT = Rule(int, gt=0)


class ModelSettings(NamedTuple):
    """The typed sections of an SRDDGAN option dict.

    Args:
        diffusion (DiffusionOptions): The schedule's settings.
        train (TrainOptions | None): Training settings; None for a test run.
        val (ValOptions): Validation settings.
        lr_consistency (LRConsistencyOptions): The sampler's LR-consistency settings.
        path (PathOptions): The weights to load and the output folders.
    """

    diffusion: DiffusionOptions
    train: TrainOptions | None
    val: ValOptions
    lr_consistency: LRConsistencyOptions
    path: PathOptions


def _parse_train(train_opt):
    """``train`` as TrainOptions, with its optimisers, losses and scheduler checked."""
    train = TrainOptions.from_dict(train_opt)
    check_optimizer('train.optim_g', train.optim_g)
    check_optimizer('train.optim_d', train.optim_d)
    check_built_sections(train, 'train')
    if train.scheduler and train.scheduler.get('type') not in SCHEDULERS:
        raise OptionError(f'train.scheduler.type must be one of {", ".join(SCHEDULERS)}, '
                          f'got {train.scheduler.get("type")!r}.')
    return train


def parse_val(val_opt):
    """``val`` as ValOptions, with its metrics checked (registered, arguments, LPIPS backbone file).

    Args:
        val_opt (dict | None): The ``val`` section.

    Returns:
        ValOptions: The settings.
    """
    val = ValOptions.from_dict(val_opt)
    for name, metric_opt in (val.metrics or {}).items():
        key = f'val.metrics.{name}'
        function = registered(key, metric_opt, METRIC_REGISTRY)
        arguments = check_metric(key, metric_opt, function)
        if uses_lpips_backbone(function):  # looked up now, not at the first validation
            try:
                locate_backbone(arguments['net'], arguments['backbone_path'])
            except (FileNotFoundError, ValueError) as error:
                raise OptionError(f'{key}: {error}') from None
        if is_set_metric(function) and (val.num_samples < 2 or val.reduce == 'mean'):
            reason = 'val.reduce mean leaves one image' if val.reduce == 'mean' else f'got {val.num_samples}'
            raise OptionError(f'{key}: {metric_opt["type"]} needs val.num_samples >= 2 samples per LR image '
                              f'({reason}).')
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
        POSITIVE_INT.check(key, gt_size)
        if scale and gt_size % scale:
            raise OptionError(f'{key} = {gt_size} is not divisible by scale {scale}: the LR crop would not be whole.')
        factor = 2**(len(ch_mult) - 1) if ch_mult else 1
        if gt_size % factor:
            raise OptionError(f'{key} = {gt_size} must be divisible by {factor} = 2**(len(network_g.ch_mult) - 1), '
                              f'the U-Net downsamples {len(ch_mult) - 1} times.')


def _check_frozen_encoder(opt, path):
    """A frozen LR encoder needs pretrained weights from somewhere."""
    if (opt.get('is_train') and _generator_setting(opt, 'freeze_encoder')
            and not _generator_setting(opt, 'encoder_pretrained_path') and not path.pretrain_network_g
            and not path.resume_state):
        raise OptionError('network_g.freeze_encoder is true but no weights reach the encoder: set network_g.'
                          'encoder_pretrained_path (a BasicSR RRDBNet checkpoint) or path.pretrain_network_g.')


def parse_model_options(opt):
    """Check the model sections of an SRDDGAN option dict and return its typed settings; raise
    :class:`OptionError` (a ValueError) on the first mistake: unknown or misspelt keys of network_g / network_d /
    diffusion / train / val / lr_consistency / path, wrong value types or bounds, a gt_size not divisible by the scale
    or by 2**(levels - 1), a scale different from the networks', unusable metrics, a frozen encoder without weights.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.

    Returns:
        ModelSettings: The diffusion, train (None unless training), val, lr_consistency and path settings.
    """
    check_registered_section('network_g', opt.get('network_g'), ARCH_REGISTRY)
    diffusion = DiffusionOptions.from_dict(opt.get('diffusion'))
    train = None
    if opt.get('is_train'):
        check_registered_section('network_d', opt.get('network_d'), ARCH_REGISTRY)
        train = _parse_train(opt.get('train'))
    _check_sizes(opt)
    val = parse_val(opt.get('val'))
    path = PathOptions.from_dict(opt.get('path'))
    _check_frozen_encoder(opt, path)
    consistency = LRConsistencyOptions.from_dict(opt.get('lr_consistency'))
    if val.color_fix != 'none' and consistency.downsampler != 'none':
        raise OptionError(f'val.color_fix {val.color_fix} is for samplers without the LR projection, and '
                          f'lr_consistency.downsampler is {consistency.downsampler}: set one of them to none.')
    return ModelSettings(diffusion, train, val, consistency, path)
