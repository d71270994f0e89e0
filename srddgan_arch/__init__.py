"""srddgan: SRDDGAN (single-image super-resolution with denoising diffusion GANs) as a BasicSR plugin.

Importing the package applies the BasicSR compatibility fixes (``compat``), makes BasicSR's train pipeline use the
resumable sampler (``utils.training_state``) and record its validation inputs (``utils.train_pipeline``), and registers
every network, model, dataset, loss and metric of the package into BasicSR's registries, as Real-ESRGAN does:
modules are found by their file name suffix.
"""
import importlib
import os
from os import path as osp

from srddgan_arch import compat
from srddgan_arch.version import __version__  # noqa: F401

compat.apply()
# after the fixes (they import basicsr); not fixes: exact resume needs BasicSR's train loop to use a resumable sampler,
# redoing a validation cut short by a stop signal needs its validation loaders, and a debug name is announced
from srddgan_arch.run_start import use_run_start  # noqa: E402
from srddgan_arch.utils.train_pipeline import hook_train_pipeline  # noqa: E402
from srddgan_arch.utils.training_state import use_resumable_sampler  # noqa: E402

use_run_start()  # srddgan's checks of a run's options, its data and its folder, around BasicSR's parse_options
use_resumable_sampler()
hook_train_pipeline()

# sub-package -> file name suffix of the modules that register into BasicSR
PLUGIN_MODULES = {
    'archs': '_arch.py',
    'models': '_model.py',
    'data': '_dataset.py',
    'losses': '_loss.py',
    'metrics': '_metric.py',
}


def import_plugin_modules():
    """Import every registering module of the package (Python caches them: calling again registers nothing twice)."""
    package_dir = osp.dirname(osp.abspath(__file__))
    for sub_package, suffix in PLUGIN_MODULES.items():
        folder = osp.join(package_dir, sub_package)
        for file_name in sorted(f for f in os.listdir(folder) if f.endswith(suffix)):
            importlib.import_module(f'srddgan_arch.{sub_package}.{file_name[:-3]}')


import_plugin_modules()
