"""Weight and checkpoint files: found offline (``locate_weights``), loaded without running code (``load_checkpoint``).

Nothing is downloaded while training, testing or running inference: a missing file is an error that names it, where
it was looked for and where to get it.
"""
from os import path as osp

import torch


def torch_hub_checkpoints():
    """torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), where torchvision caches its weights."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def locate_weights(file_name, path=None, folder=None, what='weights', source='', option='pretrained_path'):
    """Find a pretrained weight file offline: ``path`` when given, else ``file_name`` in ``folder``.

    Args:
        file_name (str): The file's usual name, e.g. torchvision's ``vgg19-dcbb9e9d.pth``.
        path (str | None): Explicit path (a YAML key or command-line option). Default: None.
        folder (str | None): Where the file is looked for without ``path``. Default: None (torch.hub's checkpoint
            folder, torchvision's cache).
        what (str): What needs the file, the start of the error message. Default: 'weights'.
        source (str): Where to get the file, for the error message. Default: ''.
        option (str): The key or option that gives ``path``, for the error message. Default: 'pretrained_path'.

    Returns:
        str: An existing file.
    """
    origin = f' (from {source})' if source else ''
    if path is not None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what}: {option} {path!r} does not exist; expected {file_name}{origin}.')
        return path
    folder = folder or torch_hub_checkpoints()
    candidate = osp.join(folder, file_name)
    if not osp.isfile(candidate):
        raise FileNotFoundError(f'{what}: {file_name} not found in {folder}. Copy it there{origin} or give its path '
                                f'with {option}; nothing is downloaded here.')
    return candidate


def load_checkpoint(path, map_location='cpu', what='Checkpoint'):
    """Load a checkpoint with ``weights_only=True``: tensors and plain containers, no code from the file runs.

    Args:
        path (str): The file.
        map_location (str | torch.device): Where its tensors go. Default: 'cpu'.
        what (str): What the file is, for the error message. Default: 'Checkpoint'.

    Returns:
        The loaded object (a state dict, a BasicSR checkpoint dict, a training state).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist.')
    if osp.getsize(path) == 0:
        raise ValueError(f'{what} {path} is empty (0 bytes): a save or a download was cut off; use a complete file.')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load raises what its unpickler meets: EOFError, KeyError, RuntimeError, ...
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        # a weights_only failure starts with the same sentence; its reason is the line naming what was found
        reason = next((line for line in lines[1:] if line.startswith(('Trying', 'Unsupported'))), lines[0])
        if 'GLOBAL' in reason:
            raise ValueError(f'{what} {path} is refused: it holds more than tensors and would run code ({reason}); '
                             'nothing from it was run.') from error
        raise ValueError(f'{what} {path} is not a readable torch checkpoint ({type(error).__name__}: {reason}); '
                         'it may be cut off or not a .pth file.') from error
