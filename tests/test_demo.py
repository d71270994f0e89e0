"""The Quick-start job: scripts/run_demo.py builds the demo data, trains, scores it beside the references, draws the
comparison figure and ends with the demo_result line."""
import importlib.util
import re
from os import path as osp

import cv2
import pytest
import yaml

SCRIPTS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'scripts')
RESULT_KEYS = ['psnr', 'lr_psnr', 'bicubic_psnr', 'ibp_psnr', 'diversity', 'seconds']


@pytest.mark.slow
def test_demo_runs_end_to_end(run_root, capsys, monkeypatch):
    """A shortened demo (20 iterations) prints the model's and the references' scores and the demo_result line with
    every key; its LR-consistent samples already downscale to the LR (LR-PSNR >= 45 dB) and differ between samples;
    IBP beats bicubic; the figure has a labelled row per validation crop and six columns.

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
    line = run_demo.main(['--opt', str(opt_path), '--total-iter', '20'])
    values = {key: float(value) for key, value in re.findall(r'(\w+)=(\S+)', line)}
    assert line.startswith('demo_result: ') and list(values) == RESULT_KEYS
    assert values['lr_psnr'] >= 45 and values['diversity'] > 0 and values['ibp_psnr'] > values['bicubic_psnr']
    out = capsys.readouterr().out
    assert 'SRDDGAN demo (20 iterations): PSNR' in out and out.rstrip().endswith(line)
    figure = cv2.imread(str(run_root / 'results' / f'{opt["name"]}_final' / 'comparison.png'))
    assert figure.shape == (4 * (128 + run_demo.LABEL_HEIGHT), 6 * 128, 3)
    with pytest.raises(SystemExit):  # a rerun replaces the results only when told, before it trains
        run_demo.main(['--opt', str(opt_path), '--total-iter', '20'])
    assert 'holds the results of an earlier run: give --overwrite' in capsys.readouterr().err


@pytest.mark.slow
def test_realworld_evidence_runs_end_to_end(run_root, capsys, monkeypatch):
    """A shortened evidence run (2 iterations per pipeline, one held-out photograph): it trains the bicubic, paper and
    Real-ESRGAN variants of the demo, writes the fixed real-world-like LR at a quarter of the HR size, and the table
    has a row per method with PSNR, SSIM and NIQE for both inputs; the figure has a tile per method."""
    monkeypatch.chdir(run_root)
    spec = importlib.util.spec_from_file_location('realworld_evidence', osp.join(SCRIPTS, 'realworld_evidence.py'))
    evidence = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evidence)
    monkeypatch.setattr(evidence, 'ROOT', str(run_root))
    monkeypatch.setattr(evidence.run_demo, 'ROOT', str(run_root))
    text = evidence.main(['--total_iter', '2', '--max_images', '1'])
    rows = [line for line in text.splitlines() if line.startswith('| ') and 'Method' not in line]
    assert [row.split(' | ')[0] for row in rows] == [
        '| bicubic', '| SRDDGAN trained on bicubic LR (LR-consistent)', '| SRDDGAN trained on bicubic LR (plain)',
        '| SRDDGAN trained on paper LR', '| SRDDGAN trained on realesrgan LR']
    assert all(len(row.split(' | ')) == 7 and 'nan' not in row for row in rows)
    output = run_root / 'results' / 'realworld_evidence'
    hr = cv2.imread(str(run_root / 'datasets' / 'demo' / 'heldout' / 'HR' / 'camera.png'))
    lr = cv2.imread(str(output / 'heldout_LR_realworld_X4' / 'camera.png'))
    assert lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
    assert (run_root / 'experiments' / 'train_SRDDGAN_demo_x4_realesrgan' / 'models' / 'net_g_latest.pth').is_file()
    assert cv2.imread(str(output / 'realworld.png')).shape[1] == 7 * 200
