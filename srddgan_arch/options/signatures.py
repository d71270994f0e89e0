"""YAML sections against the signatures of what they build: constructor sections (``network_g``, losses,
optimisers) against the class's keyword arguments, metric entries against the metric function's.

BasicSR passes these sections to constructors as keyword arguments and fails late (a TypeError deep in a build, or a
swallowed key of a metric's ``**kwargs`` until the first validation); here a misspelt key is an error naming it.
"""
import dataclasses
import inspect
from numbers import Real

import torch

from srddgan_arch.options.schema import OptionError, Rule, shown, suggest

# what validation passes to a metric; its other arguments come from the metric's YAML entry
METRIC_DATA_ARGUMENTS = ('img', 'img2', 'lq', 'samples')
# keys of a metric entry that BasicSR's calculate_metric and the best-value bookkeeping read themselves
METRIC_ENTRY_KEYS = ('type', 'better')
# BasicSR's NIQE (calculate_niqe) scores 96x96 blocks: a smaller image fails (the start-up checks and the benchmark
# convention both ask it of the images NIQE scores)
NIQE_MIN_SIDE = 96


def _type_name(value):
    return type(value).__name__


def default_matches(default, value):
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
    if params is not None:
        _check_arguments(section, section_opt, params, cls.__name__, skip)


def _check_arguments(section, section_opt, defaults, owner, skip):
    """Every key of a section (but ``skip``) one of ``defaults`` (argument -> default), its value like the default."""
    for key, value in section_opt.items():
        if key in skip:
            continue
        if key not in defaults:
            accepted = ', '.join(k for k in defaults if k not in ('params', 'self')) or 'none'
            raise OptionError(f'{section}.{key} is not an argument of {owner}.{suggest(key, defaults)} '
                              f'Accepted: {accepted}.')
        if not default_matches(defaults[key], value):
            raise OptionError(f'{section}.{key} must be like its default {shown(defaults[key])} '
                              f'({_type_name(defaults[key])}), got {shown(value)} ({_type_name(value)}).')


def registered(section, section_opt, registry):
    """The class (or function) named by ``<section>.type`` in one of BasicSR's registries.

    Args:
        section (str): The section's name in messages.
        section_opt (dict): The section, with a ``type`` key.
        registry (Registry): E.g. ``ARCH_REGISTRY``.

    Returns:
        type | callable: The registered object.
    """
    if not isinstance(section_opt, dict) or 'type' not in section_opt:
        raise OptionError(f'{section} must be a mapping with a type key, got {shown(section_opt)}.')
    try:
        return registry.get(section_opt['type'])
    except KeyError:
        raise OptionError(f'{section}.type: {section_opt["type"]!r} is not registered in BasicSR\'s '
                          f'{registry._name} registry.{suggest(str(section_opt["type"]), registry._obj_map)}') from None


def check_registered_section(section, section_opt, registry):
    """A constructor section: its type registered in ``registry``, its keys the keyword arguments of that class."""
    check_constructor_section(section, section_opt, registered(section, section_opt, registry))


def check_built_sections(settings, section_name):
    """The constructor sections of a section's settings: each key declared with ``builds`` (``option(...,
    builds=LOSS_REGISTRY)``: TrainOptions' loss terms) against the class its ``type`` names in that registry.

    Args:
        settings (Section): The settings.
        section_name (str): Their name in messages, e.g. 'train'.
    """
    for field in dataclasses.fields(settings):
        section_opt = getattr(settings, field.name)
        if field.metadata['builds'] is not None and section_opt:
            check_registered_section(f'{section_name}.{field.name}', section_opt, field.metadata['builds'])


def check_optimizer(section, optim_opt):
    """An optimiser section: a ``torch.optim`` class, its ``lr`` and keyword arguments."""
    optim_type = optim_opt.get('type')
    optim_class = getattr(torch.optim, str(optim_type), None)
    if not (isinstance(optim_class, type) and issubclass(optim_class, torch.optim.Optimizer)):
        raise OptionError(f'{section}.type: {optim_type!r} is not a torch.optim optimiser (e.g. AdamW).')
    if 'lr' not in optim_opt:
        raise OptionError(f'{section}.lr is missing.')
    Rule(float).check(f'{section}.lr', optim_opt['lr'])
    check_constructor_section(section, optim_opt, optim_class, skip=('type', 'params'))


def metric_arguments(function):
    """The arguments a metric's YAML entry gives (all but the data validation passes): name -> default."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in METRIC_DATA_ARGUMENTS}


def is_set_metric(function):
    """True for a metric of the set of samples of one LR image (it takes ``samples``: diversity, pixel std), False
    for a metric of one image, averaged over the samples."""
    return 'samples' in inspect.signature(function).parameters


def uses_lpips_backbone(function):
    """True for a metric that scores LPIPS distances: it takes ``net`` and ``backbone_path`` (LPIPS, diversity)."""
    return {'net', 'backbone_path'} <= inspect.signature(function).parameters.keys()


def check_metric(key, metric_opt, function):
    """A metric entry against the metric function's signature: every key a named argument (BasicSR's metrics take
    ``**kwargs``, which would swallow a misspelt key until the first validation), every argument without default
    given.

    Args:
        key (str): The entry's name in messages, e.g. 'val.metrics.psnr'.
        metric_opt (dict): The entry.
        function (callable): The registered metric function.

    Returns:
        dict: The metric's arguments: the entry's values, else the function's defaults.
    """
    defaults = metric_arguments(function)
    _check_arguments(key, metric_opt, defaults, function.__name__, METRIC_ENTRY_KEYS)
    for name, default in defaults.items():
        if default is inspect.Parameter.empty and name not in metric_opt:
            raise OptionError(f'{key}.{name} is missing: {function.__name__} has no default for it.')
    return {name: metric_opt.get(name, default) for name, default in defaults.items()}
