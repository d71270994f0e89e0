"""Each data set's section, and the ``realesrgan`` section, is parsed once per run (``options/parse_once.py``): the
run checks' parse is the one the data probe, the batch degradation and the data set itself take, while the section is
unchanged; a changed section is parsed afresh, and a mistake is still reported by its reader."""
import collections

import pytest
import yaml
from basicsr.data import build_dataset
from basicsr.models import build_model
from conftest import tiny_srddgan_options, write_paired_images

from srddgan_arch.data.preflight import check_data
from srddgan_arch.options import OptionError
from srddgan_arch.options import parse_once as parse_once_module
from srddgan_arch.options.runs import dataset_settings, prepare_run_options
from srddgan_arch.options.schema import Section


@pytest.fixture
def parses(monkeypatch):
    """section class name -> its ``from_dict`` calls, counted from an empty store of parses."""
    monkeypatch.setattr(parse_once_module, '_PARSES', collections.OrderedDict())
    calls = collections.Counter()
    from_dict = Section.from_dict.__func__

    def counted(cls, *args, **kwargs):
        calls[cls.__name__] += 1
        return from_dict(cls, *args, **kwargs)

    monkeypatch.setattr(Section, 'from_dict', classmethod(counted))
    return calls


def basicsr_parsed(opt):
    """The options as BasicSR's ``parse_options`` leaves the data sets: each with its ``phase`` and ``scale``."""
    for phase, dataset_opt in opt['datasets'].items():
        dataset_opt.update(phase=phase.split('_')[0], scale=opt['scale'])
    return opt


def start_run(opt):
    """What one training run does with its options: the run checks and the data probe (``run_start``), then BasicSR
    builds the model (with its batch degradation) and every data set, each from a deep copy of the options."""
    assert prepare_run_options(opt)
    check_data(opt)
    model = build_model(opt)
    return model.degrade, {phase: build_dataset(dataset_opt) for phase, dataset_opt in opt['datasets'].items()}


def degraded_run_options(tmp_path):
    """A training run on an HR-only data set degraded by the model (``degrade_in_dataset: false``), validated on
    paired 96x96 images (NIQE's smallest: the data probe reads their size for it)."""
    opt = tiny_srddgan_options(tmp_path)
    train_hr, _ = write_paired_images(str(tmp_path / 'train'), num_images=2)
    val_hr, val_lr = write_paired_images(str(tmp_path / 'val'), num_images=1, hr_size=96)
    opt['datasets'] = {
        'train': {'name': 'train', 'type': 'SRDDGANDegradedDataset', 'dataroot_gt': train_hr, 'gt_size': 32,
                  'io_backend': {'type': 'disk'}, 'degrade_in_dataset': False, 'degradation': {'jpeg_prob': 0.5},
                  'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0},
        'val_1': {'name': 'val', 'type': 'PairedImageDataset', 'dataroot_gt': val_hr, 'dataroot_lq': val_lr,
                  'io_backend': {'type': 'disk'}}}
    opt['val']['metrics']['niqe'] = {'type': 'calculate_niqe', 'crop_border': 0}
    return basicsr_parsed(opt)


def realesrgan_run_options(tmp_path):
    """A training run on a Real-ESRGAN data set degraded by the model (the ``realesrgan`` section)."""
    opt = tiny_srddgan_options(tmp_path)
    hr_dir, _ = write_paired_images(str(tmp_path / 'train'), num_images=2, hr_size=64)
    meta_info = tmp_path / 'meta_info.txt'
    meta_info.write_text('000.png\n001.png\n')
    opt['datasets'] = {'train': {'name': 'train', 'type': 'SRDDGANRealESRGANDataset', 'dataroot_gt': hr_dir,
                                 'meta_info': str(meta_info), 'io_backend': {'type': 'disk'}, 'gt_size': 32,
                                 'crop_pad_size': 64, 'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}}
    opt['realesrgan'] = {'queue_size': 4, 'resize_range': [0.5, 1.5]}
    return basicsr_parsed(opt)


def test_a_data_set_section_is_parsed_once_per_run(tmp_path, parses):
    """The run checks, the data probe (twice: folders and NIQE's size), the model's batch degradation and the data sets
    built through BasicSR parse each data set's section once (its degradation block with it), and the run checks and
    the model the model's sections; all read equal settings, each reader a copy of its own."""
    opt = degraded_run_options(tmp_path)
    degradation, datasets = start_run(opt)
    assert parses['DegradedDatasetOptions'] == 1 and parses['DegradationOptions'] == 1
    assert parses['PairedDatasetOptions'] == 1
    assert parses['TrainOptions'] == parses['DiffusionOptions'] == parses['ValOptions'] == parses['PathOptions'] == 1
    checked = dataset_settings('train', opt['datasets']['train'], opt)
    assert datasets['train'].settings == checked and degradation.settings == checked.degradation
    assert datasets['val_1'].settings == dataset_settings('val_1', opt['datasets']['val_1'], opt)
    checked.io_backend['db_paths'] = ['x']  # a reader that changes a dict of its settings (BasicSR's data sets do)
    assert 'db_paths' not in dataset_settings('train', opt['datasets']['train'], opt).io_backend
    assert parses['DegradedDatasetOptions'] == 1


def test_the_realesrgan_sections_are_parsed_once_per_run(tmp_path, parses):
    """The data set's section and ``realesrgan``, read by the run checks, the batch degradation and the data set's
    ``__init__``: one parse each."""
    opt = realesrgan_run_options(tmp_path)
    degradation, datasets = start_run(opt)
    assert parses['RealESRGANDatasetOptions'] == 1 and parses['RealESRGANOptions'] == 1
    assert degradation.queue_size == 4 and datasets['train'].settings.crop_pad_size == 64


def test_a_changed_section_is_parsed_afresh(tmp_path, parses):
    """A data set built from other options gets their settings; a mistake after a good parse of the same section
    (a value of another type: 32.0 for an int) is still named by its reader."""
    opt = degraded_run_options(tmp_path)
    prepare_run_options(opt)
    train = opt['datasets']['train']
    changed = build_dataset(dict(train, use_hflip=False, degradation={'jpeg_prob': 0.25}))
    assert parses['DegradedDatasetOptions'] == 2
    assert not changed.settings.use_hflip and changed.settings.degradation.jpeg_prob == 0.25
    with pytest.raises(OptionError, match=r'datasets.<phase>.gt_size must be a positive int or null, got 32.0 '
                                          r'\(float\)'):
        build_dataset(dict(train, gt_size=32.0))
    with pytest.raises(OptionError, match=r'datasets.train.scale is 4 but the scale around it is 2'):
        dataset_settings('train', train, dict(opt, scale=2))
    assert build_dataset(train).settings == dataset_settings('train', train, opt)
    assert parses['DegradedDatasetOptions'] == 4


@pytest.mark.slow
def test_a_training_run_parses_each_section_once(tmp_path, monkeypatch, parses):
    """BasicSR's train pipeline, 2 iterations on a Real-ESRGAN data set validated on paired data: every section of the
    option file is parsed once."""
    from test_train_pipeline import run_pipeline
    opt = realesrgan_run_options(tmp_path)
    hr_dir, lr_dir = write_paired_images(str(tmp_path / 'val'), num_images=1)
    for key in ('is_train', 'dist', 'rank', 'world_size'):
        opt.pop(key)
    for dataset_opt in opt['datasets'].values():
        del dataset_opt['phase'], dataset_opt['scale']
    opt['datasets']['val'] = {'name': 'val', 'type': 'PairedImageDataset', 'dataroot_gt': hr_dir, 'dataroot_lq': lr_dir,
                              'io_backend': {'type': 'disk'}}
    opt.update(path={'pretrain_network_g': None}, lr_consistency={'downsampler': 'none'})
    opt['train']['total_iter'] = opt['val']['val_freq'] = opt['logger']['save_checkpoint_freq'] = 2
    opt['val'].update(num_samples=1, metrics={'psnr': {'type': 'calculate_psnr', 'crop_border': 0}})
    (tmp_path / 'opt.yml').write_text(yaml.safe_dump(opt))
    (tmp_path / 'root').mkdir()
    assert '# psnr:' in run_pipeline(tmp_path / 'root', tmp_path / 'opt.yml', monkeypatch)
    assert parses and set(parses.values()) == {1}, parses
