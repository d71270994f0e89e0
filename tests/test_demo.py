"""The Quick-start job: scripts/run_demo.py builds the demo data, trains, scores it beside the references, draws the
comparison figure and ends with the demo_result line."""
import importlib.util
import os
import re
from os import path as osp

import cv2
import pytest
import yaml

SCRIPTS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'scripts')
RESULT_KEYS = ['psnr', 'lr_psnr', 'bicubic_psnr', 'ibp_psnr', 'diversity', 'seconds']


@pytest.mark.slow
def test_demo_runs_end_to_end(run_root, capsys, monkeypatch):
    """A shortened demo (4 iterations: the 4th with the lazy R1 term) prints the model's and the references' scores
    and the demo_result line with every key; its LR-consistent samples already downscale to the LR (LR-PSNR >= 45 dB)
    and differ between samples; IBP beats bicubic; the figure has a labelled row per validation crop and six columns.

    The demo runs with the experiment root ``run_root`` as its repository root: data, experiments and results go
    there.
    """
    monkeypatch.chdir(run_root)  # run_demo changes to its root; the working directory is restored afterwards
    with open(osp.join(osp.dirname(SCRIPTS), 'options', 'train_SRDDGAN_demo_x4.yml')) as f:
        opt = yaml.safe_load(f)
    opt_path = run_root / 'demo.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    spec = importlib.util.spec_from_file_location('run_demo', osp.join(SCRIPTS, 'run_demo.py'))
    run_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_demo)
    monkeypatch.setattr(run_demo, 'ROOT', str(run_root))
    line = run_demo.main(['--opt', str(opt_path), '--total-iter', '4'])
    values = {key: float(value) for key, value in re.findall(r'(\w+)=(\S+)', line)}
    assert line.startswith('demo_result: ') and list(values) == RESULT_KEYS
    assert values['lr_psnr'] >= 45 and values['diversity'] > 0 and values['ibp_psnr'] > values['bicubic_psnr']
    out = capsys.readouterr().out
    assert 'SRDDGAN demo (4 iterations): PSNR' in out and out.rstrip().endswith(line)
    figure = cv2.imread(str(run_root / 'results' / f'{opt["name"]}_final' / 'comparison.png'))
    assert figure.shape == (4 * (128 + run_demo.LABEL_HEIGHT), 6 * 128, 3)
    with pytest.raises(SystemExit):  # a rerun replaces the results only when told, before it trains
        run_demo.main(['--opt', str(opt_path), '--total-iter', '4'])
    assert 'holds the results of an earlier run: give --overwrite' in capsys.readouterr().err


@pytest.mark.slow
def test_perception_distortion_study_runs_end_to_end(run_root, capsys, monkeypatch, study_datasets):
    """A shortened study (2 iterations per model, one image per split, two adversarial weights): it trains both
    models and the shortened same-budget RRDB, scores every model, reference and knob on both splits (SWD for all,
    NIQE on the held-out photographs only), writes the table, the plot and the samples figure, and refuses to
    replace them unless told. The data sets are there already, their held-out photographs cropped (``study_data``)."""
    study_datasets(run_root)
    monkeypatch.chdir(run_root)
    spec = importlib.util.spec_from_file_location('perception_distortion',
                                                  osp.join(SCRIPTS, 'perception_distortion.py'))
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    monkeypatch.setattr(study, 'ROOT', str(run_root))
    monkeypatch.setattr(study.run_demo, 'ROOT', str(run_root))
    argv = ['--total_iter', '2', '--max_images', '1', '--gan_weights', '0,0.5', '--distortion', '0', '--perceptual',
            '0.5', '--mean_of', '2', '--alphas', '0.5']
    text = study.main(argv)
    tables, by_kind = text.split('\nheld-out photographs by kind:')
    validation, heldout = tables.split('held-out photographs (')
    rows = {split: {line.split(' | ')[0][2:]: line.split(' | ')[1:] for line in part.splitlines()
                    if line.startswith('| ') and 'Method' not in line} for split, part in (('val', validation),
                                                                                          ('heldout', heldout))}
    methods = ['bicubic', 'ibp', 'rrdb', 'SRDDGAN gan_weight 0', 'SRDDGAN gan_weight 0.5',
               'SRDDGAN gan_weight 0 mean of 2', 'SRDDGAN gan_weight 0.5 mean of 2', 'interpolation alpha 0.5']
    assert text.startswith('Perceptual model: gan_weight 0.5 (given')
    assert list(rows['val']) == list(rows['heldout']) == methods
    columns = text.splitlines()[4].split(' | ')
    swd, niqe = columns.index('SWD ↓'), columns.index('NIQE ↓')
    assert all(float(row[swd - 1]) > 0 for split in rows.values() for row in split.values())
    assert rows['val']['ibp'][niqe - 1] == 'n/a' and float(rows['heldout']['ibp'][niqe - 1]) > 0
    kinds = [line.split(' | ')[0][2:] for line in by_kind.split('Targets of')[1].splitlines() if line.startswith('| ')]
    assert kinds[1:] == ['fabric', 'portrait']  # one image of each folder: the demo's camera, the kinds' woman
    assert (run_root / 'experiments' / 'perception_distortion_rrdb_2' / 'models' / 'net_g_latest.pth').is_file()
    output = run_root / 'results' / 'perception_distortion'
    assert cv2.imread(str(output / 'perception_distortion.png')).shape[:2] == (460, 640)
    assert cv2.imread(str(output / 'samples.png')).shape == (128 + 18, 8 * 128, 3)  # one crop, 2 + 2 samples
    with pytest.raises(SystemExit):
        study.main(argv)
    assert 'give --overwrite' in capsys.readouterr().err


def test_perception_distortion_chooses_the_most_realistic_model_above_bicubic():
    """The perceptual model: the lowest SWD among the models at least 0.2 dB above bicubic; none there: the lowest."""
    spec = importlib.util.spec_from_file_location('perception_distortion',
                                                  osp.join(SCRIPTS, 'perception_distortion.py'))
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    results = {'bicubic': {'psnr': 28.0}, 'SRDDGAN gan_weight 0': {'psnr': 29.0, 'swd': 0.09},
               'SRDDGAN gan_weight 0.5': {'psnr': 28.3, 'swd': 0.06},
               'SRDDGAN gan_weight 1': {'psnr': 28.1, 'swd': 0.04}}
    assert study.choose_perceptual(results, [0, 0.5, 1]) == 0.5
    results['bicubic']['psnr'] = 30
    assert study.choose_perceptual(results, [0, 0.5, 1]) == 1


def test_a_recipe_trains_the_model_it_starts_from_first(tmp_path, monkeypatch):
    """run_demo trains options/<name>.yml first when a recipe's pretrain_network_g is experiments/<name>/models/
    net_g_latest.pth and missing; not when it is there, nor for a checkpoint no option file makes."""
    spec = importlib.util.spec_from_file_location('run_demo', osp.join(SCRIPTS, 'run_demo.py'))
    run_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_demo)
    trained = []
    monkeypatch.setattr(run_demo, 'train', lambda opt_path, total_iter=None: trained.append((opt_path, total_iter)))
    monkeypatch.chdir(tmp_path)
    checkpoint = 'experiments/train_SRDDGAN_demo_x4/models/net_g_latest.pth'
    run_demo.train_prerequisite({'path': {'pretrain_network_g': checkpoint}}, 7)
    assert trained == [(osp.join(run_demo.ROOT, 'options', 'train_SRDDGAN_demo_x4.yml'), 7)]
    run_demo.train_prerequisite({'path': {'pretrain_network_g': 'experiments/mine/models/net_g_latest.pth'}})
    (tmp_path / checkpoint).parent.mkdir(parents=True)
    (tmp_path / checkpoint).write_bytes(b'')
    run_demo.train_prerequisite({'path': {'pretrain_network_g': checkpoint}})
    assert len(trained) == 1


@pytest.mark.slow
def test_realworld_recipe_runs_end_to_end(run_root, capsys, monkeypatch, study_datasets):
    """A shortened real-world recipe (2 iterations): run_demo trains the demo model it starts from, then the recipe
    on degraded LR, validates it on the fixed degraded draw of the validation crops (the LR the figure shows) and
    prints the demo_result line. The demo set is there already (``study_data``; the demo test builds it)."""
    study_datasets(run_root)
    monkeypatch.chdir(run_root)
    spec = importlib.util.spec_from_file_location('run_demo', osp.join(SCRIPTS, 'run_demo.py'))
    run_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_demo)
    monkeypatch.setattr(run_demo, 'ROOT', str(run_root))
    os.symlink(osp.join(osp.dirname(SCRIPTS), 'options'), run_root / 'options')
    line = run_demo.main(['-opt', 'options/train_SRDDGAN_demo_realworld_x4.yml', '--total-iter', '2'])
    assert re.fullmatch(r'demo_result: ' + ' '.join(f'{key}=\\S+' for key in RESULT_KEYS), line)
    assert (run_root / 'experiments' / 'train_SRDDGAN_demo_x4' / 'models' / 'net_g_latest.pth').is_file()
    log = next((run_root / 'experiments' / 'train_SRDDGAN_demo_realworld_x4').glob('train_*.log')).read_text()
    assert 'Loading SRDDGANUNet model from' in log and 'params_ema' in log
    figure = cv2.imread(str(run_root / 'results' / 'train_SRDDGAN_demo_realworld_x4_final' / 'comparison.png'))
    assert figure.shape[0] == 4 * (128 + 18)
