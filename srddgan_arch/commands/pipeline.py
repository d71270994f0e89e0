"""What ``srddgan-train`` and ``srddgan-test`` share: BasicSR's pipeline run from the project root, its mistakes one
line."""
import os
import sys
from os import path as osp

import srddgan_arch  # noqa: F401  (compatibility fixes and registration)
from srddgan_arch.cli_errors import run_main
from srddgan_arch.option_files import is_option_name


def project_root():
    """The experiment root: the source checkout when the package runs from one, else the working directory.

    ``experiments/``, ``results/`` and ``tb_logger/`` are created there and relative paths in option files are read
    from there, so ``python srddgan_arch/train.py -opt options/X.yml`` works from any working directory.
    """
    checkout = osp.dirname(osp.dirname(osp.abspath(srddgan_arch.__file__)))
    if osp.isfile(osp.join(checkout, 'setup.py')):
        return checkout
    return os.getcwd()


def enter_root(argv):
    """Make an ``-opt`` path absolute (it is read from the working directory the command started in), then change to
    the project root. A packaged name stays as it is: the run start resolves it and reads the file
    (``run_start.read_option_file``).

    Args:
        argv (list[str]): The command line, ``sys.argv`` (changed in place).

    Returns:
        str: The project root.
    """
    if '-opt' in argv and argv.index('-opt') + 1 < len(argv):
        index = argv.index('-opt') + 1
        if not is_option_name(argv[index]):
            argv[index] = osp.abspath(argv[index])
    root = project_root()
    os.chdir(root)
    return root


def run_pipeline(pipeline, prog):
    """Run a BasicSR pipeline in the project root; a mistake in the option file, its files or its weights is one
    line on stderr and exit code 2 (the traceback with ``--debug``, BasicSR's own option, passed on).

    Args:
        pipeline (callable): ``basicsr.train.train_pipeline`` or ``basicsr.test.test_pipeline``.
        prog (str): The command's name, the start of an error line.
    """
    code = run_main(lambda argv: pipeline(enter_root(sys.argv)), prog, exit_code=2, own_debug=True)
    if code:
        raise SystemExit(code)

