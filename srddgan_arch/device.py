"""The device srddgan runs on when none is given (inference, metrics, benchmarks)."""
import torch


def default_device():
    """cuda, else mps, else cpu: the best device this machine has."""
    if torch.cuda.is_available():
        return 'cuda'
    if getattr(torch.backends, 'mps', None) is not None and torch.backends.mps.is_available():
        return 'mps'
    return 'cpu'
