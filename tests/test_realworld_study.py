"""Tests of the real-world study (``scripts/realworld_study.py``, ``srddgan_tools/realworld.py``): the fixed test
degradations, the training variants and budgets, and a shortened run end to end."""
import importlib.util
from os import path as osp

import cv2
import numpy as np
import pytest
from conftest import SCRIPTS

from srddgan_tools.realworld import DEMO_MINUTES, TEST_DEGRADATIONS, VARIANTS, degrade, iterations, variant_options


def _photo(height=96, width=64):
    """A uint8 BGR image with edges and texture."""
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8), (width, height),
                     interpolation=cv2.INTER_CUBIC)
    return np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize('name', list(TEST_DEGRADATIONS))
def test_test_degradations_are_fixed_and_quarter_size(name):
    """Each test degradation gives the LR at a quarter of the HR size, the same image for the same seed; only the
    noisy ones change with the seed; each differs from the clean MATLAB bicubic LR."""
    from basicsr.utils.matlab_functions import imresize
    hr, spec = _photo(), TEST_DEGRADATIONS[name]
    lr = degrade(hr, 4, spec, seed=3)
    assert lr.shape == (24, 16, 3) and lr.dtype == np.uint8
    assert np.array_equal(lr, degrade(hr, 4, spec, seed=3))
    assert np.array_equal(lr, degrade(hr, 4, spec, seed=4)) == (spec['noise'] is None)
    clean = np.clip(imresize(hr.astype(np.float32) / 255, 0.25) * 255, 0, 255).round()
    assert np.abs(lr.astype(float) - clean).mean() > 0.5


def test_variants_train_on_their_pipeline_from_their_start():
    """A fine-tuned variant loads the demo model's EMA weights (and its D) and trains the minutes after the demo's;
    a degraded pipeline turns the LR projection off; the demo at its own budget is the demo option file itself."""
    demo_checkpoint = 'experiments/train_SRDDGAN_demo_x4/models/net_g_latest.pth'
    opt = variant_options('realworld_finetune', 30, 'meta.txt', demo_checkpoint)
    assert opt['name'] == 'study_realworld_finetune_30min' and opt['train']['total_iter'] == 1600
    assert opt['path']['pretrain_network_g'] == demo_checkpoint and opt['path']['param_key_g'] == 'params_ema'
    assert opt['path']['pretrain_network_d'].endswith('net_d_latest.pth')
    assert opt['datasets']['train']['type'] == 'SRDDGANDegradedDataset'
    assert opt['lr_consistency'] == {'downsampler': 'none'}
    assert opt['datasets']['train']['degradation']['shuffle_prob'] == 0  # the recipe's family
    paper = variant_options('paper', 10, 'meta.txt', demo_checkpoint)
    assert paper['datasets']['train']['degradation']['shuffle_prob'] == 1
    assert paper['path']['pretrain_network_g'] is None
    assert variant_options('demo', DEMO_MINUTES, 'meta.txt', None)['name'] == 'train_SRDDGAN_demo_x4'
    assert variant_options('rrdb_realworld', 10, 'meta.txt', None)['train']['total_iter'] == 4500
    assert variant_options('realworld_finetune_l1', 20, 'meta.txt', demo_checkpoint)['train']['gan_weight'] == 0
    assert iterations('realworld', 60) == 4800
    with pytest.raises(ValueError, match='starts from the demo model'):
        iterations('realworld_finetune', DEMO_MINUTES)
    assert set(VARIANTS) >= {'demo', 'paper', 'realworld', 'realworld_finetune', 'rrdb_paper', 'rrdb_realworld'}


@pytest.mark.slow
def test_realworld_study_runs_end_to_end(run_root, capsys, monkeypatch, study_datasets):
    """A shortened study (2 iterations per model, one held-out photograph): it trains the demo first, then each
    variant (the fine-tuned one from the demo), writes every test degradation's LR, and the tables have a row per
    method (the colour fix beside each SRDDGAN sampler without the projection) with PSNR, SSIM, NIQE and SWD for
    every input; it refuses to replace them unless told. The demo set is there already, its held-out photographs
    cropped (``study_data``)."""
    study_datasets(run_root)
    monkeypatch.chdir(run_root)
    spec = importlib.util.spec_from_file_location('realworld_study', osp.join(SCRIPTS, 'realworld_study.py'))
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    monkeypatch.setattr(study, 'ROOT', str(run_root))
    monkeypatch.setattr(study.run_demo, 'ROOT', str(run_root))
    argv = ['--variants', 'realworld_finetune,rrdb_realworld', '--budgets', '20', '--total_iter', '2',
            '--max_images', '1', '--color_fix', 'wavelet']
    text = study.main(argv)
    sections = text.split('### ')[1:]
    assert [section.splitlines()[0] for section in sections] == [*TEST_DEGRADATIONS, 'clean bicubic']
    for section in sections:
        rows = [line.split(' | ') for line in section.splitlines() if line.startswith('| ') and 'Method' not in line]
        assert [row[0][2:] for row in rows] == ['bicubic', 'IBP', 'realworld_finetune 20 min',
                                                'realworld_finetune 20 min + wavelet', 'rrdb_realworld 20 min']
        assert all(len(row) == 6 and 'nan' not in ' '.join(row) for row in rows)
    experiments = run_root / 'experiments'
    assert (experiments / 'study_demo_10min_2iter' / 'models' / 'net_g_latest.pth').is_file()
    assert (experiments / 'study_realworld_finetune_20min_2iter' / 'models' / 'net_g_latest.pth').is_file()
    output = run_root / 'results' / 'realworld_study'
    hr = cv2.imread(str(run_root / 'datasets' / 'demo' / 'heldout' / 'HR' / 'camera.png'))
    assert cv2.imread(str(output / 'heldout_LR_phone_X4' / 'camera.png')).shape == (hr.shape[0] // 4,
                                                                                     hr.shape[1] // 4, 3)
    assert cv2.imread(str(output / 'budget.png')) is not None
    with pytest.raises(SystemExit):
        study.main(argv)
    assert 'give --overwrite' in capsys.readouterr().err


def test_runs_pair_variants_with_budgets(capsys):
    """--variants with --budgets is every variant at every budget (a fine-tuned one above the demo's minutes only);
    name@minutes is its own budget; an unknown name or a fine-tune within the demo's minutes is one line."""
    from conftest import load_script
    study = load_script('realworld_study')
    assert study.runs_of('demo,realworld_finetune', [10, 30]) == [('demo', 10), ('demo', 30),
                                                                  ('realworld_finetune', 30)]
    assert study.runs_of('realworld_finetune@20,rrdb_paper', [10]) == [('realworld_finetune', 20), ('rrdb_paper', 10)]
    for argv, words in ((['--variants', 'realworld@5,bicubic'], "unknown 'bicubic'"),
                        (['--variants', 'realworld_finetune@10'], 'starts from the demo model')):
        with pytest.raises(SystemExit):
            study.main(argv)
        assert words in capsys.readouterr().err
