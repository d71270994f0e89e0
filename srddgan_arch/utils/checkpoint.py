"""Checkpoint files, loaded without running code (``load_checkpoint``)."""
from os import path as osp

import torch


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
    return torch.load(path, map_location=map_location, weights_only=True)
