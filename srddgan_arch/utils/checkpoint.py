"""Weight and checkpoint files: found, or downloaded the way torchvision does (``locate_weights``), and loaded without
running code (``load_checkpoint``).

A missing weight file is an error that names it, where it was looked for and where to get it.
"""
import os
from os import path as osp

import torch


def torch_hub_checkpoints():
    """torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), where torchvision caches its weights."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def download_weights(url, destination):
    """Download ``url`` to ``destination`` with torch.hub's downloader, as torchvision does: the hash prefix in the
    file name (``vgg19-dcbb9e9d.pth``) must match the file's SHA-256, and the file only appears once complete.

    Args:
        url (str): Address of the file.
        destination (str): Path of the downloaded file; its folder is created.

    Raises:
        OSError: The download failed (e.g. no network).
        RuntimeError: The downloaded file has the wrong hash (it is deleted).
    """
    os.makedirs(osp.dirname(destination), exist_ok=True)
    match = torch.hub.HASH_REGEX.search(osp.basename(destination))
    torch.hub.download_url_to_file(url, destination, match.group(1) if match else None, progress=True)


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
    if osp.isfile(candidate):
        return candidate
    failure = '; nothing is downloaded here'
    if url is not None:
        try:
            download_weights(url, candidate)
            return candidate
        except (OSError, RuntimeError) as error:
            failure = f' and downloading it failed ({error})'
    raise FileNotFoundError(f'{what}: {file_name} not found in {folder}{failure}. Copy it there{origin} or give its '
                            f'path with {option}.')


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
