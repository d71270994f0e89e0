"""The network of an option file with its trained weights: ``network_g`` and the sampler's sections read from the
file, the checkpoint's weights loaded (checked to fit, finite, or interpolated with a second checkpoint) and the
diffusion schedule the checkpoint records."""
from os import path as osp
from typing import NamedTuple

from srddgan_arch.diffusion import DiffusionOptions
from srddgan_arch.inference.settings import ModelChoice
from srddgan_arch.lr_consistency import LRConsistencyOptions
from srddgan_arch.option_files import load_yaml
from srddgan_arch.utils.checkpoint import (
    CheckpointError,
    interpolate_weights,
    load_checkpoint,
    load_fitting_weights,
    state_dict_of,
)


class OptionFile(NamedTuple):
    """The sections of an option file that inference reads.

    Args:
        network_g (dict): ``type`` and the network's keyword arguments.
        diffusion (DiffusionOptions): The schedule (the defaults when the file has none).
        lr_consistency (LRConsistencyOptions): The sampler's LR consistency (off when the file has none).
    """

    network_g: dict
    diffusion: DiffusionOptions
    lr_consistency: LRConsistencyOptions


def load_option_file(path):
    """Read a BasicSR option file and return its ``network_g``, ``diffusion`` and ``lr_consistency`` sections.

    Args:
        path (str): YAML option file with a ``network_g`` section (``type`` and the network's keyword arguments) and,
            for SRDDGAN, optional ``diffusion`` and ``lr_consistency`` sections.

    Returns:
        OptionFile: The sections, checked.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Option file {path} does not exist.')
    opt = load_yaml(path) or {}
    if not isinstance(opt.get('network_g'), dict) or 'type' not in opt['network_g']:
        raise KeyError(f'{path}: expected a network_g section with a type key (the network definition).')
    return OptionFile(dict(opt['network_g']), DiffusionOptions.from_dict(opt.get('diffusion')),
                      LRConsistencyOptions.from_dict(opt.get('lr_consistency')))


def build_network(network_opt, model_path=None, param_key=ModelChoice.param_key):
    """Build a registered network from its option dict and load a BasicSR checkpoint.

    Args:
        network_opt (dict): ``type`` plus the network's keyword arguments (the ``network_g`` YAML section).
        model_path (str | None): BasicSR checkpoint (``.pth``), ``.safetensors`` file (``srddgan-export``) or an
            http(s) address of either. None keeps random weights (speed tests only). Default: None.
        param_key (str): Key of the weights in the checkpoint; falls back to ``params`` and to a bare state dict.
            Default: ``ModelChoice.param_key`` ('params_ema').

    Returns:
        nn.Module: The network in eval mode, on the CPU.
    """
    return load_trained_network(network_opt, model_path, param_key)[0]


def load_trained_network(network_opt, model_path, param_key=ModelChoice.param_key, network='network_g',
                         interpolate=None, alpha=ModelChoice.alpha):
    """``build_network``, and the diffusion schedule its checkpoint records (None when it records none); weights
    that do not fit the network or are not finite are refused naming ``model_path`` and ``network``. With
    ``interpolate`` (a second checkpoint of the same network), the weights are ``(1 - alpha) * model_path's + alpha *
    interpolate's``; the two must record the same schedule.

    Returns:
        tuple[nn.Module, dict | None]: The network and the recorded ``DiffusionSchedule.settings()``.
    """
    from basicsr.archs import build_network as basicsr_build_network

    net = basicsr_build_network(dict(network_opt))
    if model_path is None:
        return net.eval(), None
    checkpoint = load_checkpoint(model_path, what='Model weights (--model_path)')
    state = state_dict_of(checkpoint, param_key, model_path)
    if interpolate is not None:
        other = load_checkpoint(interpolate, what='Weights to interpolate (--interpolate)')
        if other.get('diffusion') != checkpoint.get('diffusion'):
            raise CheckpointError(f'{model_path} and {interpolate} cannot be interpolated: they were trained with '
                                  f'different diffusion schedules ({checkpoint.get("diffusion")} and '
                                  f'{other.get("diffusion")}).')
        state = interpolate_weights(state, state_dict_of(other, param_key, interpolate), alpha, model_path,
                                    interpolate)
        model_path = f'{model_path} interpolated with {interpolate} (alpha {alpha})'
    load_fitting_weights(net, state, model_path, network)
    return net.eval(), checkpoint.get('diffusion')


def is_diffusion_network(net):
    """True for SRDDGAN-style generators (sampled by the diffusion), False for one-shot SR networks."""
    return hasattr(net, 'encode_lr') and hasattr(net, 'z_dim')
