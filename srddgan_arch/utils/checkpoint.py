"""Weight and checkpoint files: found, or downloaded into torchvision's cache by srddgan's downloader and checked there
before each use (``locate_weights``, ``fetch_weights``, ``download.py``), and loaded without running code
(``load_checkpoint``: ``.pth`` with ``weights_only``, ``.safetensors``).

A missing weight file is an error that names it, where it was looked for and where to get it.
"""
import json
import os
from os import path as osp
from urllib.error import URLError
from urllib.parse import unquote, urlparse

import torch

from srddgan_arch.utils import download

# metadata keys of srddgan's .safetensors files (srddgan-export): the checkpoint key the tensors stand for and the
# diffusion schedule the generator was trained with (JSON)
SAFETENSORS_PARAM_KEY, SAFETENSORS_DIFFUSION = 'param_key', 'diffusion'


class CheckpointError(ValueError):
    """A weight file that cannot be used: empty, cut off, code-carrying, or weights that do not fit the network."""


def torch_hub_checkpoints():
    """torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), where torchvision caches its weights."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def download_weights(url, destination):
    """Download ``url`` to ``destination`` with srddgan's downloader (``download.download_url_to_file``: timeouts,
    size cap, length and format checked, nothing left behind on failure); the hash prefix in the file name
    (torchvision's ``vgg19-dcbb9e9d.pth``) must match the file's SHA-256.

    Args:
        url (str): Address of the file.
        destination (str): Path of the downloaded file; its folder is created.

    Raises:
        OSError: The download failed or was refused (``download.DownloadError``; no network: URLError).
    """
    os.makedirs(osp.dirname(osp.abspath(destination)), exist_ok=True)
    download.download_url_to_file(url, destination, download.hash_prefix_of(destination), progress=True)


def is_url(path):
    """True for an ``http://`` or ``https://`` address."""
    return isinstance(path, str) and path.startswith(('http://', 'https://'))


def fetch_weights(url, what='Weights'):
    """The local copy of a weight file given by its address: downloaded once into torch.hub's checkpoint folder, as
    torchvision's weights are, with the hash prefix of its name checked (``download_weights``); later calls find it
    there. The file name identifies the download, as in torch.hub: give different files different names.

    Args:
        url (str): ``http(s)://.../NAME.pth`` or ``.../NAME.safetensors``.
        what (str): What the file is, the start of the error message. Default: 'Weights'.

    Returns:
        str: The downloaded file.

    Raises:
        OSError: The download failed (offline, wrong address, wrong hash).
    """
    name = osp.basename(unquote(urlparse(url).path))
    if not name:
        raise CheckpointError(f'{what}: {url} names no file; expected an address ending in the file name (NAME.pth).')
    destination = osp.join(torch_hub_checkpoints(), name)
    if download.usable_cached(destination, url, what):
        return destination
    try:
        download_weights(url, destination)
    except OSError as error:  # DownloadError, URLError and HTTPError are OSErrors
        reason = error.reason if isinstance(error, URLError) and not hasattr(error, 'code') else error
        raise OSError(f'{what}: downloading {url} failed ({reason}); check the address and the network, or download '
                      'the file yourself and give its path.') from error
    return destination


def fetch_option_weights(path_opt):
    """Replace the http(s) addresses among the ``pretrain_network_*`` of an option file's ``path`` section by their
    downloaded files (``fetch_weights``), in place.

    Args:
        path_opt (dict): The ``path`` section.
    """
    for key, value in path_opt.items():
        if key.startswith('pretrain_network') and is_url(value):
            path_opt[key] = fetch_weights(value, what=f'path.{key}')


def locate_weights(file_name, path=None, folder=None, what='weights', source='', option='pretrained_path', url=None):
    """Find a pretrained weight file: ``path`` when given, else ``file_name`` in ``folder``, downloaded there from
    ``url`` when it is missing (torchvision's convention: its cache, filled on first use).

    Args:
        file_name (str): The file's usual name, e.g. torchvision's ``vgg19-dcbb9e9d.pth``.
        path (str | None): Explicit path (a YAML key or command-line option); never downloaded. Default: None.
        folder (str | None): Where the file is looked for without ``path``. Default: None (torch.hub's checkpoint
            folder, torchvision's cache).
        what (str): What needs the file, the start of the error message. Default: 'weights'.
        source (str): Where to get the file, for the error message. Default: '' (``url``).
        option (str): The key or option that gives ``path``, for the error message. Default: 'pretrained_path'.
        url (str | None): Download address of a missing file; None: never download. Default: None.

    Returns:
        str: An existing file.

    Raises:
        FileNotFoundError: ``path`` does not exist, or the file is not in ``folder`` and could not be downloaded.
    """
    source = source or url
    origin = f' (from {source})' if source else ''
    if path is not None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what}: {option} {path!r} does not exist; expected {file_name}{origin}.')
        return path
    folder = folder or torch_hub_checkpoints()
    candidate = osp.join(folder, file_name)
    if url is None and osp.isfile(candidate):
        return candidate
    if url is not None and download.usable_cached(candidate, url, what):
        return candidate
    failure = '; nothing is downloaded here'
    if url is not None:
        try:
            download_weights(url, candidate)
            return candidate
        except OSError as error:
            failure = f' and downloading it failed ({error})'
    raise FileNotFoundError(f'{what}: {file_name} not found in {folder}{failure}. Copy it there{origin} or give its '
                            f'path with {option}.')


def load_checkpoint(path, map_location='cpu', what='Checkpoint'):
    """Load a checkpoint without running code from it: a ``.pth`` with ``weights_only=True`` (tensors and plain
    containers), a ``.safetensors`` file as tensors and metadata (``load_safetensors``); an http(s) address is
    downloaded first (``fetch_weights``).

    Args:
        path (str): The file or its address.
        map_location (str | torch.device): Where its tensors go. Default: 'cpu'.
        what (str): What the file is, for the error message. Default: 'Checkpoint'.

    Returns:
        The loaded object (a state dict, a BasicSR checkpoint dict, a training state).
    """
    if is_url(path):
        path = fetch_weights(path, what)
    if path.endswith('.safetensors'):
        return load_safetensors(path, map_location, what)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist.')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'{what} {path} is empty (0 bytes): a save or a download was cut off; use a complete '
                              'file.')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load raises what its unpickler meets: EOFError, KeyError, RuntimeError, ...
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        # a weights_only failure starts with the same sentence; its reason is the line naming what was found
        reason = next((line for line in lines[1:] if line.startswith(('Trying', 'Unsupported'))), lines[0])
        if 'GLOBAL' in reason:
            raise CheckpointError(f'{what} {path} is refused: it holds more than tensors and would run code '
                                  f'({reason}); nothing from it was run.') from error
        raise CheckpointError(f'{what} {path} is not a readable torch checkpoint ({type(error).__name__}: '
                              f'{reason}); it may be cut off or not a .pth file.') from error


def load_safetensors(path, map_location='cpu', what='Checkpoint'):
    """A ``.safetensors`` file as a checkpoint dict: the tensors under the key its metadata names (``param_key``,
    srddgan-export writes ``params_ema``) and the recorded ``diffusion`` schedule; a file without that metadata is a
    bare state dict. The format holds tensors and text only: nothing is unpickled.

    Args:
        path (str): The file.
        map_location (str | torch.device): Where its tensors go. Default: 'cpu'.
        what (str): What the file is, for the error message. Default: 'Checkpoint'.

    Returns:
        dict: ``{param_key: state dict, 'diffusion': dict}``, or the state dict.
    """
    from safetensors import SafetensorError, safe_open

    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist.')
    try:
        with safe_open(path, framework='pt', device=str(map_location)) as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f'{what} {path} is not a readable safetensors file ({error}); it may be cut '
                              'off.') from error
    if SAFETENSORS_PARAM_KEY not in metadata:
        return tensors
    checkpoint = {metadata[SAFETENSORS_PARAM_KEY]: tensors}
    if SAFETENSORS_DIFFUSION in metadata:
        try:
            checkpoint['diffusion'] = json.loads(metadata[SAFETENSORS_DIFFUSION])
        except json.JSONDecodeError as error:
            raise CheckpointError(f'{what} {path}: its diffusion metadata is not JSON ({error}).') from error
    return checkpoint


def state_dict_of(checkpoint, param_key, path):
    """The network weights of a loaded checkpoint: ``checkpoint[param_key]``, else its ``params_ema`` or ``params``
    (with a warning), else the checkpoint itself (a bare state dict).

    Args:
        checkpoint (dict): From :func:`load_checkpoint`.
        param_key (str | None): The key asked for (BasicSR's ``param_key_g``, ``--param_key``).
        path (str): The file, for the warning.

    Returns:
        dict: The state dict.
    """
    from basicsr.utils import get_root_logger

    for key in (param_key, 'params_ema', 'params'):
        if key in checkpoint:
            if key != param_key:
                get_root_logger().warning(f'{path} has no {param_key!r} weights: using {key!r}.')
            return checkpoint[key]
    return checkpoint


def _some(names, count=3):
    """The first ``count`` names, then how many more."""
    shown = ', '.join(names[:count])
    return f'{shown}, ... ({len(names) - count} more)' if len(names) > count else shown


def load_fitting_weights(net, state, source, network='network_g'):
    """``net.load_state_dict(state, strict=True)``, refusing weights that do not fit or are not finite in one short
    message naming the checkpoint and the network (PyTorch's error lists every key, up to tens of kilobytes).

    Args:
        net (nn.Module): The network, unwrapped.
        state (dict): The weights.
        source (str): The checkpoint, for messages.
        network (str): What the network is, for messages. Default: 'network_g'.

    Raises:
        CheckpointError: Keys missing or unexpected, shapes that differ, or tensors holding NaN or inf.
    """
    own = net.state_dict()
    problems = []
    if missing := [name for name in own if name not in state]:
        problems.append(f'{len(missing)} weights missing ({_some(missing)})')
    if unexpected := [name for name in state if name not in own]:
        problems.append(f'{len(unexpected)} not in the network ({_some(unexpected)})')
    if shapes := [f'{name} {tuple(state[name].shape)} for {tuple(own[name].shape)}' for name in own
                  if name in state and tuple(state[name].shape) != tuple(own[name].shape)]:
        problems.append(f'{len(shapes)} of another shape ({_some(shapes, 2)})')
    if problems:
        raise CheckpointError(f'{source} does not fit {network}: {"; ".join(problems)}. Are they the weights of '
                              'another configuration (option file, scale, width) or of another network (D for G)?')
    if nonfinite := [name for name, value in state.items() if value.is_floating_point() and
                     not torch.isfinite(value).all()]:
        raise CheckpointError(f'{source}: {len(nonfinite)} weight tensors hold NaN or inf ({_some(nonfinite)}): a '
                              'diverged run or a damaged file; use an earlier checkpoint.')
    net.load_state_dict(state, strict=True)


def interpolate_weights(state, other, alpha, source, other_source):
    """ESRGAN's network interpolation: ``(1 - alpha) * state + alpha * other`` for every floating-point tensor
    (integer buffers such as counters are taken from ``state``).

    Args:
        state (dict): The first generator's weights.
        other (dict): The second generator's, the same keys and shapes.
        alpha (float): The second's weight, in [0, 1].
        source (str): The first checkpoint, for messages.
        other_source (str): The second checkpoint, for messages.

    Returns:
        dict: The interpolated weights.

    Raises:
        CheckpointError: The two do not hold the same tensors (two configurations cannot be interpolated).
    """
    if (keys := set(state)) != set(other) or any(state[key].shape != other[key].shape for key in keys):
        different = sorted(keys ^ set(other)) or sorted(key for key in keys if state[key].shape != other[key].shape)
        raise CheckpointError(f'{source} and {other_source} cannot be interpolated: they are the weights of different '
                              f'networks ({_some(different)} differ); give two models of the same network_g.')
    return {key: torch.lerp(value, other[key].to(value.dtype), alpha) if value.is_floating_point() else value
            for key, value in state.items()}
