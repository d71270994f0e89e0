"""The devices an option file asks for against those of this machine, before BasicSR builds anything.

BasicSR's ``BaseModel`` runs on CUDA whenever ``num_gpu`` is not 0 (``num_gpu: auto`` becomes the number of visible
CUDA devices, so it is 0 without CUDA): a file with ``num_gpu: 1`` on a machine without CUDA, or asking for more devices
than are visible, fails with a CUDA traceback once the model moves its networks. Checked for every model, srddgan's
and BasicSR's own.
"""
import os

import torch

from srddgan_arch.options.schema import OptionError


def check_num_gpu(opt, cuda_devices=None):
    """``num_gpu`` of a raw option file: 'auto' or an int from 0 to the number of visible CUDA devices.

    Args:
        opt (dict): The option file as YAML loads it (a file without ``num_gpu`` is left to the other checks).
        cuda_devices (int | None): The visible CUDA devices. Default: None (``torch.cuda.device_count()`` when CUDA
            is available, else 0).
    """
    if not isinstance(opt, dict) or 'num_gpu' not in opt or opt['num_gpu'] == 'auto':
        return
    num_gpu = opt['num_gpu']
    if isinstance(num_gpu, bool) or not isinstance(num_gpu, int) or num_gpu < 0:
        raise OptionError(f'num_gpu must be auto or an int >= 0 (0: the CPU), got {num_gpu!r}.')
    if cuda_devices is None:
        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if num_gpu <= cuda_devices:
        return
    if cuda_devices == 0:
        raise OptionError(f'num_gpu: {num_gpu}, but this machine has no usable CUDA device (torch '
                          f'{torch.__version__}, CUDA {torch.version.cuda or "not built"}): set num_gpu: 0 (or auto) '
                          'to run on the CPU.')
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    raise OptionError(f'num_gpu: {num_gpu}, but {cuda_devices} CUDA device{"s are" if cuda_devices > 1 else " is"} '
                      f'visible{f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""}: set num_gpu: '
                      f'{cuda_devices} or auto.')
