"""The bounds of every option, and the checks of a run whatever model it names: an unknown model_type, BasicSR's own
models (the sections srddgan declares), the experiment name, BasicSR's debug schedule announced."""
import io
import logging

import pytest
from conftest import run_options

import srddgan_arch
import srddgan_arch.inference.settings  # noqa: F401  (its section is one of those checked below)
from srddgan_arch.data.paired_dataset import PairedDatasetOptions
from srddgan_arch.data.realesrgan_options import RealESRGANDatasetOptions, RealESRGANOptions
from srddgan_arch.diffusion import DiffusionOptions
from srddgan_arch.models.sample_validation import ValOptions
from srddgan_arch.models.srddgan_options import TrainOptions
from srddgan_arch.options import OptionError
from srddgan_arch.options.runs import check_option_keys, check_run_options
from srddgan_arch.options.schema import Section
from srddgan_arch.utils.train_pipeline import announce_debug_schedule

# number keys whose bounds are rules between keys (the section's validate), not bounds of their own
BOUNDED_BY_VALIDATE = {(DiffusionOptions, 'beta_max')}
PAIRED = dict(name='p', type='PairedImageDataset', io_backend={'type': 'disk'}, dataroot_gt='hr', dataroot_lq='lr')
REALESRGAN_SET = dict(name='r', type='SRDDGANRealESRGANDataset', io_backend={'type': 'disk'}, dataroot_gt='hr')


def all_sections(cls=Section):
    """Every section class the package declares."""
    for sub in cls.__subclasses__():
        yield sub
        yield from all_sections(sub)


def test_every_number_option_has_bounds():
    """Each int or float key of every section declares the bounds its meaning implies (a rate, a weight, a count, a
    probability), or a rule between keys bounds it; a new key without bounds fails here."""
    unbounded = {(cls, name) for cls in all_sections() for name, rule in cls.rules.items()
                 if rule.kind in (int, float) and rule.choices is None
                 and (rule.gt, rule.ge, rule.lt, rule.le) == (None, None, None, None)}
    assert unbounded == BOUNDED_BY_VALIDATE, sorted((cls.__name__, name) for cls, name in unbounded)


@pytest.mark.parametrize('make, message', [
    (lambda: TrainOptions(total_iter=1, optim_g={}, optim_d={}, r1_gamma=-1), r'r1_gamma must be a number >= 0'),
    (lambda: TrainOptions(total_iter=1, optim_g={}, optim_d={}, gan_weight=-0.5), r'gan_weight must be a number >= 0'),
    (lambda: TrainOptions(total_iter=1, optim_g={}, optim_d={}, warmup_iter=-2), r'warmup_iter must be an int >= -1'),
    (lambda: TrainOptions(total_iter=1, optim_g={}, optim_d={}, max_nonfinite_steps=-1), r'max_nonfinite_steps'),
    (lambda: TrainOptions(total_iter=1, optim_g={}, optim_d={}, ema_decay=1.0), r'ema_decay must be a number in'),
    (lambda: ValOptions(val_freq=0), r'val\.val_freq must be a positive number'),
    (lambda: ValOptions(seed=-1), r'val\.seed must be an int >= 0'),
    (lambda: RealESRGANOptions(gaussian_noise_prob=1.5), r'gaussian_noise_prob must be a number in \[0, 1\]'),
    (lambda: RealESRGANOptions(resize_range=[1.5, 0.15]), r'resize_range must be \[low, high\] with 0 <= low'),
    (lambda: RealESRGANOptions(jpeg_range2=[30, 120]), r'jpeg_range2 is a JPEG quality within \[0, 100\]'),
    (lambda: RealESRGANOptions(resize_prob2=[0.5, 0.5]), r'resize_prob2 needs one non-negative probability for up'),
    (lambda: RealESRGANDatasetOptions(**REALESRGAN_SET, final_sinc_prob=2), r'final_sinc_prob must be a number in'),
    (lambda: RealESRGANDatasetOptions(**REALESRGAN_SET, blur_sigma2=[3, 0.2]), r'blur_sigma2 must be \[low, high\]'),
    (lambda: RealESRGANDatasetOptions(**REALESRGAN_SET, kernel_prob2=[1]), r'kernel_prob2 needs one non-negative'),
    (lambda: RealESRGANDatasetOptions(**REALESRGAN_SET, blur_kernel_size=41), r'blur_kernel_size must be an int in'),
    (lambda: PairedDatasetOptions(**PAIRED, std=[0.5, 0, 0.5]), r'std: images are divided by it'),
])
def test_out_of_bounds_values_are_refused(make, message):
    """Values outside what a key means (a negative weight or count, a probability above 1, a range low > high, a
    JPEG quality above 100) are refused naming the key."""
    with pytest.raises(OptionError, match=message):
        make()


def test_a_negative_r1_gamma_stops_the_run_at_start_up(tmp_path):
    """r1_gamma: -1 trained silently; the run's checks refuse it."""
    opt = run_options(tmp_path)
    opt['train']['r1_gamma'] = -1
    with pytest.raises(OptionError, match=r'train\.r1_gamma must be a number >= 0, got -1'):
        check_run_options(opt)


def test_an_unknown_model_type_is_refused_with_did_you_mean():
    """A misspelt model_type skipped every check and failed in BasicSR's build_model; now one line with the model
    it is closest to."""
    with pytest.raises(OptionError, match=r"model_type 'SRDDGANModle' is not a registered model\. Did you mean "
                                          r"'SRDDGANModel'\?"):
        check_option_keys({'name': 'x', 'model_type': 'SRDDGANModle', 'num_gpu': 0})
    with pytest.raises(OptionError, match=r'model_type is missing'):
        check_option_keys({'name': 'x'})


def basicsr_model_options(tmp_path):
    """An SRModel (BasicSR's own model) training run, with keys of BasicSR's that srddgan does not declare."""
    opt = run_options(tmp_path)
    opt['model_type'] = 'SRModel'
    opt['train']['gan_opt'] = {'type': 'GANLoss'}  # BasicSR's: left to BasicSR
    opt['high_order_degradation'] = False
    return opt


@pytest.mark.parametrize('dotted, value, message', [
    ('datasets.train.batch_size_per_gpu', 0, r'datasets\.train\.batch_size_per_gpu must be a positive int'),
    ('logger.print_freq', 0, r'logger\.print_freq must be a positive number'),
    ('dist_params.backend', 'ncl', r'dist_params\.backend must be one of'),
    ('train.warmup_iter', -5, r'train\.warmup_iter must be an int >= -1'),
    ('val.val_freq', 0, r'val\.val_freq must be a positive number'),
    ('path.strict_load_g', 'yes', r'path\.strict_load_g must be true or false'),
    ('manual_seed', -3, r'manual_seed must be an int in'),
    ('name', 'a/b', r'name must be a folder name'),
])
def test_basicsr_models_get_the_generic_sections_checked(tmp_path, dotted, value, message):
    """A run of BasicSR's own models (SRModel) gets the values of every key srddgan declares checked (top level,
    data loader, path, logger, dist_params, train, val); keys only BasicSR knows are left to it."""
    opt = basicsr_model_options(tmp_path)
    check_run_options(opt)
    *parents, last = dotted.split('.')
    section = opt
    for parent in parents:
        section = section.setdefault(parent, {})
    section[last] = value
    with pytest.raises(OptionError, match=message):
        check_run_options(opt)


@pytest.mark.parametrize('name', ['../../victim', 'a/b', '/abs', '', ' ', '.', '..', 'a\\b'])
def test_a_name_cannot_leave_experiments(name):
    """name joins experiments/ and results/ (BasicSR archives what is there): a path, '.', '..' or nothing is
    refused before BasicSR parses the file, for every model."""
    for model_type in ('SRDDGANModel', 'SRModel'):
        with pytest.raises(OptionError, match=r'name must be a folder name'):
            check_option_keys({'name': name, 'model_type': model_type})


@pytest.mark.parametrize('name, announced', [('debug_tiny', True), ('tiny', False)])
def test_basicsr_debug_schedule_is_announced_in_the_log(name, announced):
    """A name containing "debug" switches BasicSR's debug schedule on: the log says so, with the frequencies."""
    stream = io.StringIO()
    handler, logger = logging.StreamHandler(stream), logging.getLogger('basicsr')
    logger.addHandler(handler)
    try:
        announce_debug_schedule({'name': name, 'val': {'val_freq': 8},
                                 'logger': {'print_freq': 1, 'save_checkpoint_freq': 8}})
    finally:
        logger.removeHandler(handler)
    assert ('BasicSR\'s debug schedule is on (val_freq 8, print_freq 1, save_checkpoint_freq 8' in
            stream.getvalue()) == announced
    assert srddgan_arch  # the package (and its compat fixes) is imported
