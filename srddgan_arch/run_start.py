"""The start of a ``train.py`` / ``test.py`` run, between BasicSR reading its option file and building anything: the
options srddgan adds to BasicSR's parse (not fixes: those are ``compat.parse_basicsr_options``).

Before BasicSR parses the file: ``-opt`` may name a packaged option file, the file is read as ``yaml.safe_load`` reads
it (no python tags, duplicate keys or unbounded aliases; a mapping; once: BasicSR parses what was read), ``num_gpu`` is
checked against this machine's CUDA devices (for every model, BasicSR's too), the top-level key names (BasicSR reads
some unguarded) and the ``--force_yml`` entries are checked. After it: ``path.pretrain_network_*`` addresses are
downloaded, srddgan's ``prepare_run_options`` rewrites Real-ESRGAN's keys and ``train.total_batch`` and checks every
section the run reads, the data on disk is probed (``check_data``), and the run's folder is locked before BasicSR
archives or writes it.
``srddgan_arch`` installs :func:`parse_options` as BasicSR's train and test pipelines' ``parse_options``.
"""
import collections
import contextlib
import sys
from os import path as osp

from basicsr.utils import options as basicsr_options

from srddgan_arch.compat import parse_basicsr_options
from srddgan_arch.data.preflight import check_data
from srddgan_arch.option_files import load_option_file, resolve_option_file
from srddgan_arch.options.devices import check_num_gpu
from srddgan_arch.options.runs import check_force_yml, check_option_keys, force_yml_entries, prepare_run_options
from srddgan_arch.options.schema import OptionError
from srddgan_arch.utils.checkpoint import fetch_option_weights
from srddgan_arch.utils.run_lock import lock_run_folder


def read_option_file(argv):
    """The option file named by ``-opt`` in ``argv``, resolved (a packaged name becomes its path, in ``argv``) and read
    as ``yaml.safe_load`` reads it (no python tags, duplicate keys or aliases expanding without bound; a mapping:
    ``option_files.load_option_file``), or None without ``-opt`` (BasicSR's argparse says it is required).

    Args:
        argv (list[str]): The command line without the program name (``-opt``'s value changed in place).

    Returns:
        dict | None: The options.
    """
    if '-opt' not in argv or argv.index('-opt') + 1 >= len(argv):
        return None
    index = argv.index('-opt') + 1
    try:
        argv[index] = resolve_option_file(argv[index])
    except FileNotFoundError as error:
        raise OptionError(f'-opt: {error}') from None
    if not osp.isfile(argv[index]):
        raise OptionError(f'-opt: option file {argv[index]} does not exist.')
    return load_option_file(argv[index])


def _ordered(value, copies):
    """A copy of ``value`` with every mapping an ``OrderedDict`` (``copies``: id -> copy, keeps shared parts shared)."""
    if not isinstance(value, (dict, list)):
        return value
    if id(value) not in copies:
        copies[id(value)] = collections.OrderedDict() if isinstance(value, dict) else []
        if isinstance(value, dict):
            copies[id(value)].update((key, _ordered(item, copies)) for key, item in value.items())
        else:
            copies[id(value)].extend(_ordered(item, copies) for item in value)
    return copies[id(value)]


@contextlib.contextmanager
def basicsr_reads(options):
    """Within it, BasicSR's ``parse_options`` parses ``options`` (the option file as srddgan read it) instead of
    reading the file again: its YAML loader class (``ordered_yaml()[0]``) is one whose document is a copy of them,
    mappings as BasicSR's loader makes them (``OrderedDict``).

    Args:
        options (dict | None): The option file as read; None: BasicSR reads the file.
    """
    class ReadOptions:
        def __init__(self, stream):
            pass

        def get_single_data(self):
            return _ordered(options, {})

        def dispose(self):
            pass

    ordered_yaml = basicsr_options.ordered_yaml
    if options is not None:
        basicsr_options.ordered_yaml = lambda: (ReadOptions, ordered_yaml()[1])
    try:
        yield
    finally:
        basicsr_options.ordered_yaml = ordered_yaml


def parse_options(root_path, is_train=True):
    """BasicSR's ``parse_options`` (with compat's fixes) and srddgan's checks around it (see the module docstring).

    Args:
        root_path (str): The experiment root.
        is_train (bool): Options of a training run. Default: True.

    Returns:
        tuple[dict, Namespace]: The options and the command-line arguments.
    """
    # -opt may name a packaged option file (train_SRDDGAN_demo_x4), which BasicSR would read as a path
    argv = sys.argv[1:]
    raw_opt = read_option_file(argv)
    sys.argv[1:] = argv
    if raw_opt is not None:
        check_num_gpu(raw_opt)  # BasicSR's BaseModel would fail in CUDA
        check_option_keys(raw_opt)
        check_force_yml(force_yml_entries(argv), raw_opt)
    with basicsr_reads(raw_opt):  # BasicSR parses what was read: no second read
        opt, args = parse_basicsr_options(root_path, is_train, (raw_opt or {}).get('dist_params'))
    fetch_option_weights(opt.get('path') or {})  # before the checks look for the files
    # the one moment between parsing and BasicSR building the data sets
    if prepare_run_options(opt):
        check_data(opt)
    lock_run_folder(opt)
    return opt, args


def use_run_start():
    """Make BasicSR's train and test pipelines parse their options with :func:`parse_options`."""
    import basicsr.test
    import basicsr.train
    basicsr.train.parse_options = parse_options
    basicsr.test.parse_options = parse_options
