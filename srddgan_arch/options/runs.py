"""The checks of a whole train.py / test.py run of srddgan's models, and the one rewrite of its options.

BasicSR reads some sections unguarded (a KeyError after the data sets were built) and ignores keys it does not know.
Two moments here catch that early: ``check_option_keys`` on the raw file, before BasicSR parses it (the top-level
key names), and ``check_run_options`` when BasicSR has parsed it, before it builds anything (every section the run
reads). The data on disk is probed right after (``data/preflight.py``). Their later readers (the data probe, the
model and the data sets when they are built) take these parses while the sections are unchanged (``parse_once``, the
model class's ``parse_settings``).
"""
import copy
import functools
from os import path as osp

from basicsr.utils.registry import DATASET_REGISTRY, MODEL_REGISTRY

from srddgan_arch.options.parse_once import forget_parses, parse_once
from srddgan_arch.options.pipeline_sections import (
    DatasetOptions,
    DistOptions,
    LoggerOptions,
    PathOptions,
    RunOptions,
    WandbOptions,
)
from srddgan_arch.options.ranges import POSITIVE_INT
from srddgan_arch.options.realesrgan_keys import adopt_realesrgan_keys
from srddgan_arch.options.schema import SECTIONS, OptionError, key_name, shown, suggest
from srddgan_arch.options.signatures import registered

# phases BasicSR's pipelines build data sets for (the part before '_'), training and testing
PHASES = {True: ('train', 'val'), False: ('val', 'test')}


def settings_parser(opt):
    """The ``parse_settings`` of the registered model an option dict names: srddgan's models carry one (it reads and
    checks their sections); None for BasicSR's own models, whose option files are left to BasicSR.

    Args:
        opt (dict): Options (raw or parsed).

    Returns:
        callable | None: ``parse_settings(opt)``.
    """
    model_type = opt.get('model_type') if isinstance(opt, dict) else None
    if not isinstance(model_type, str) or model_type not in MODEL_REGISTRY:
        return None
    return getattr(MODEL_REGISTRY.get(model_type), 'parse_settings', None)


def check_model_type(opt):
    """``model_type`` names a registered model (else BasicSR's KeyError after the data sets were built, and no
    check would know the file's sections).

    Args:
        opt (dict): The option file as YAML loads it.
    """
    if 'model_type' not in opt:
        raise OptionError('model_type is missing: it names the model to train or test, e.g. SRDDGANModel.')
    RunOptions.rules['model_type'].check('model_type', opt['model_type'])
    if opt['model_type'] not in MODEL_REGISTRY:
        raise OptionError(f'model_type {opt["model_type"]!r} is not a registered model.'
                          f'{suggest(opt["model_type"], MODEL_REGISTRY.keys())} srddgan\'s: SRDDGANModel, '
                          'SRBaselineModel; BasicSR\'s: SRModel, ESRGANModel, RealESRGANModel, ...')


def check_option_keys(opt):
    """The model type of a raw option file and, for srddgan's models, its top-level key names, before BasicSR parses
    it (BasicSR reads some of them unguarded: a misspelt ``path`` would be a bare KeyError), and the values it uses
    while parsing (``manual_seed`` seeds the generators there: ``[1]`` or ``-3`` failed inside BasicSR).

    Args:
        opt (dict): The option file as YAML loads it.
    """
    check_model_type(opt)
    if 'name' in opt:
        check_experiment_name(opt['name'])
    if settings_parser(opt) is not None:
        opt = adopt_realesrgan_keys(copy.deepcopy(opt))  # Real-ESRGAN's keys, where its files write them
        RunOptions.check_keys(opt)
    if 'manual_seed' in opt:
        RunOptions.rules['manual_seed'].check('manual_seed', opt['manual_seed'])


def force_yml_entries(argv):
    """The ``--force_yml`` entries of a command line (BasicSR's ``nargs='+'``: up to the next option)."""
    entries, taking = [], False
    for argument in argv:
        if argument == '--force_yml':
            taking = True
        elif argument.startswith('-'):
            taking = False
        elif taking:
            entries.append(argument)
    return entries


def check_force_yml(entries, opt):
    """``--force_yml`` entries against the raw option file, before BasicSR runs them through ``exec``: one ``=``,
    and every key but the last an existing section (BasicSR creates no section: a KeyError or an unpacking error).

    Args:
        entries (list[str]): ``keys=value`` entries, keys joined by ``:`` (``train:ema_decay=0.999``).
        opt (dict): The option file as YAML loads it.
    """
    for entry in entries:
        if entry.count('=') != 1:
            raise OptionError(f'--force_yml {entry}: expected KEY:SUBKEY=VALUE with one "=" (BasicSR takes no "=" in '
                              'the value).')
        keys = entry.split('=')[0].strip().split(':')
        section, path = opt, []
        for key in keys[:-1]:
            path.append(key)
            if not isinstance(section, dict) or not isinstance(section.get(key), dict):
                known = list(section) if isinstance(section, dict) else []
                raise OptionError(f'--force_yml {entry}: {":".join(path)} is not a section of the option file '
                                  f'(BasicSR changes keys, it creates no section).{suggest(key, known)}')
            section = section[key]


def dataset_settings(phase, dataset_opt, opt):
    """A data set's settings, read through the section its registered class carries (``options_section``; parsed
    once a run, ``parse_once``), or None for a class without one (then only the data loader's keys are checked).

    Args:
        phase (str): The data set's key in ``datasets``, e.g. 'train' or 'val_1'.
        dataset_opt (dict): The data set's options.
        opt (dict): The whole options (the data set takes their ``scale``, and its phase from ``phase``).

    Returns:
        Section | None: The settings.
    """
    key = f'datasets.{phase}'
    section = getattr(registered(key, dataset_opt, DATASET_REGISTRY), 'options_section', None)
    if section is None:
        DatasetOptions.check_known(dataset_opt, key)
        return None
    return parse_once(section, dataset_opt, key, inherited={**opt, 'phase': phase.split('_')[0]})


def _check_logger(logger_opt):
    logger = LoggerOptions.from_dict(logger_opt)
    wandb = WandbOptions.from_dict(logger.wandb)
    if wandb.project is not None and not logger.use_tb_logger:
        raise OptionError('logger.wandb.project needs logger.use_tb_logger: true (wandb syncs the tensorboard log).')


def check_datasets(opt, sections=True):
    """Phases, types and keys of every data set (the keys BasicSR reads unguarded in training are required).

    Args:
        opt (dict): Options with ``datasets``, ``scale`` and ``is_train``.
        sections (bool): Read each data set through its class's section; False: the data loader's keys alone (a
            run of BasicSR's own models, whose data sets take BasicSR's keys). Default: True.
    """
    is_train = bool(opt.get('is_train'))
    if is_train and 'train' not in opt['datasets']:
        raise OptionError('datasets.train is missing: a training run needs it.')
    for phase, dataset_opt in opt['datasets'].items():
        key = f'datasets.{phase}'
        if phase.split('_')[0] not in PHASES[is_train]:
            raise OptionError(f'{key}: a {"training" if is_train else "test"} run builds the phases '
                              f'{" and ".join(f"{p}, {p}_*" for p in PHASES[is_train])}.')
        if not sections:
            DatasetOptions.check_known(dataset_opt, key)
            continue
        settings = dataset_settings(phase, dataset_opt, opt)
        if settings is None:
            continue
        if opt.get('scale') is None:
            raise OptionError(f'scale is missing: {key} ({dataset_opt["type"]}) needs it.')
        # BasicSR's data loader reads them; the data set's own (gt_size, ...) its section requires
        settings.require_for_training(functools.partial(key_name, key), 'batch_size_per_gpu', 'num_worker_per_gpu')
        if hasattr(settings, 'check_with_run'):  # a data set whose keys depend on other sections (realesrgan)
            settings.check_with_run(opt, key)


def _check_weights(opt, path):
    """The weights to load exist; a test run loads a trained generator."""
    if not opt.get('is_train') and not path.pretrain_network_g:
        raise OptionError('path.pretrain_network_g is missing: testing would sample from a random generator. Give '
                          'the trained net_g_*.pth (its params_ema are used with param_key_g: params_ema).')
    if opt.get('auto_resume') or path.resume_state:  # a resume loads the networks of its state instead
        return
    for key in ('pretrain_network_g', 'pretrain_network_d'):
        if getattr(path, key) is not None and not osp.isfile(getattr(path, key)):
            raise OptionError(f'path.{key}: {getattr(path, key)} does not exist.')


def check_experiment_name(name):
    """``name`` is one folder name: BasicSR joins it to experiments/ and results/ and archives what is there.

    Args:
        name (str): The run's name.
    """
    RunOptions.rules['name'].check('name', name)
    if name.strip() in ('', '.', '..') or any(char in name for char in '/\\\0'):
        raise OptionError(f'name must be a folder name (not empty, not . or .., no / or \\): it names '
                          f'experiments/<name> and results/<name>, got {shown(name)}.')


def check_basicsr_model_options(opt):
    """A run of one of BasicSR's own models, whose model sections and some top-level keys are BasicSR's: the values of
    the keys srddgan declares (top level, path, logger, dist_params, train, val, each data set's loader keys) and
    the name; BasicSR reads the others.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.
    """
    RunOptions.check_known(opt)
    if 'name' in opt:
        check_experiment_name(opt['name'])
    for name in ('path', 'logger', 'dist_params', 'train', 'val'):  # the train and val sections: srddgan's models'
        SECTIONS[name].check_known(opt.get(name))
    if opt.get('datasets') is not None:
        check_datasets(opt, sections=False)


def check_run_options(opt):
    """Every section a train.py / test.py run of srddgan's models reads, before BasicSR builds anything: the top
    level, the data sets (phases, types, keys), path (the weights to load exist; a test run names the trained
    generator), logger (training), dist_params, and the model's sections (the model class's ``parse_settings``).
    BasicSR's own models get the keys srddgan declares checked (:func:`check_basicsr_model_options`).

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.
    """
    parse_settings = settings_parser(opt)
    if parse_settings is None:
        check_basicsr_model_options(opt)
        return
    RunOptions.from_dict(opt)
    check_experiment_name(opt['name'])
    path = parse_once(PathOptions, opt['path'])
    if opt.get('is_train'):
        _check_logger(opt.get('logger'))
        if opt.get('val') is not None and 'val_freq' not in (opt['val'] or {}):
            raise OptionError('val.val_freq is missing: a training run validates every val_freq iterations.')
    DistOptions.from_dict(opt.get('dist_params'))
    check_datasets(opt)
    parse_settings(opt)
    _check_weights(opt, path)


def resolve_total_batch(opt):
    """``train.total_batch`` (the batch over all processes, as papers state it) -> ``batch_size_per_gpu``.

    With it an option file gives the same batch on 1, 4 or 8 GPUs. A ``batch_size_per_gpu`` that contradicts it is
    an error; without ``total_batch`` nothing changes.

    Args:
        opt (dict): Parsed options with ``world_size``; ``datasets.train.batch_size_per_gpu`` is set in place.
    """
    total = (opt.get('train') or {}).get('total_batch')
    if total is None or 'train' not in (opt.get('datasets') or {}):
        return
    POSITIVE_INT.check('train.total_batch', total)
    world_size = opt['world_size']
    if total % world_size:
        raise OptionError(f'train.total_batch = {total} is not divisible by the {world_size} processes.')
    train_set = opt['datasets']['train']
    per_gpu = train_set.get('batch_size_per_gpu')
    if per_gpu is not None and per_gpu * world_size != total:
        raise OptionError(f'datasets.train.batch_size_per_gpu = {per_gpu} x {world_size} processes is not '
                          f'train.total_batch = {total}: remove batch_size_per_gpu (it is derived) or make them agree.')
    train_set['batch_size_per_gpu'] = total // world_size


def prepare_run_options(opt):
    """srddgan's part of parsing a run's option file: for srddgan's models Real-ESRGAN's keys rewritten into srddgan's
    sections (``realesrgan_keys.py``), then ``resolve_total_batch``, and ``check_run_options`` for srddgan's models.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them (changed in place).

    Returns:
        bool: The options are those of one of srddgan's models, so their data is to be probed
        (``data/preflight.py``).
    """
    forget_parses()  # this run's sections parsed afresh
    checked = settings_parser(opt) is not None
    if checked:
        adopt_realesrgan_keys(opt)  # Real-ESRGAN's keys, where its files write them, into srddgan's sections
    resolve_total_batch(opt)
    check_run_options(opt)
    return checked
