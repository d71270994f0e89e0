"""Command-line entry points: ``srddgan-train`` and ``srddgan-test`` run BasicSR's pipelines with the plugin loaded."""
import os
import sys
from os import path as osp

import srddgan_arch  # noqa: F401  (compatibility fixes and registration)
from srddgan_arch.option_files import resolve_opt_argument


def project_root():
    """The experiment root: the source checkout when the package runs from one, else the working directory.

    ``experiments/``, ``results/`` and ``tb_logger/`` are created there and relative paths in option files are read
    from there, so ``python srddgan_arch/train.py -opt options/X.yml`` works from any working directory.
    """
    checkout = osp.dirname(osp.dirname(osp.abspath(srddgan_arch.__file__)))
    if osp.isfile(osp.join(checkout, 'setup.py')):
        return checkout
    return os.getcwd()


def _enter_root(argv):
    """Resolve ``-opt`` (a packaged name or a path) to an absolute path, then change to the project root; returns the
    root."""
    try:
        resolve_opt_argument(argv)
    except FileNotFoundError as error:
        raise SystemExit(f'-opt: {error}') from error
    if '-opt' in argv and argv.index('-opt') + 1 < len(argv):
        index = argv.index('-opt') + 1
        argv[index] = osp.abspath(argv[index])
        if not osp.isfile(argv[index]):
            raise SystemExit(f'-opt: option file {argv[index]} does not exist.')
    root = project_root()
    os.chdir(root)
    return root


def _run(pipeline, prog):
    """Run a BasicSR pipeline in the project root; a mistake in the option file, its files or its weights is one
    line on stderr and exit code 2 (the traceback with ``--debug``, BasicSR's own option, passed on)."""
    from srddgan_arch.cli_errors import run_main

    code = run_main(lambda argv: pipeline(_enter_root(sys.argv)), prog, exit_code=2, own_debug=True)
    if code:
        raise SystemExit(code)


def train():
    """``srddgan-train -opt X.yml [--launcher none|pytorch|slurm] [--auto_resume] [--debug] [--force_yml k=v]``."""
    from basicsr.train import train_pipeline

    from srddgan_arch.utils.preemption import install_handlers
    install_handlers()  # SIGTERM / SIGUSR1: save at the end of the iteration, exit PREEMPTED_EXIT_CODE
    _run(train_pipeline, 'srddgan-train')


def test():
    """``srddgan-test -opt X.yml``."""
    from basicsr.test import test_pipeline
    _run(test_pipeline, 'srddgan-test')
