"""The Quick-start job: scripts/run_demo.py builds the demo data, trains, validates and prints the metrics line."""
import importlib.util
import re
from os import path as osp

import pytest
import yaml

SCRIPTS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'scripts')


@pytest.mark.slow
def test_demo_runs_end_to_end_and_learns(run_root, capsys, monkeypatch):
    """30 iterations of the demo config already raise PSNR and LR-PSNR by more than 1 dB over the untrained model.

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
    line = run_demo.main(['--opt', str(opt_path), '--total-iter', '30'])
    psnr0, psnr1, lr_psnr0, lr_psnr1 = map(float, re.search(
        r'PSNR (\S+) -> (\S+) dB, LR-PSNR (\S+) -> (\S+) dB \(iteration 0 -> 30\)', line).groups())
    assert psnr1 > psnr0 + 1 and lr_psnr1 > lr_psnr0 + 1
    assert line in capsys.readouterr().out
    for label in ('iter0', 'final'):
        assert (run_root / 'results' / f'{opt["name"]}_{label}' / 'visualization').is_dir()
