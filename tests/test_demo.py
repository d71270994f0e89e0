"""The Quick-start job: scripts/run_demo.py builds the demo data, trains, validates and prints the metrics line."""
import importlib.util
import re
import shutil
import uuid
from os import path as osp

import yaml

from srddgan_arch.entry import project_root


def test_demo_runs_end_to_end_and_learns(tmp_path, capsys, monkeypatch):
    """30 iterations of the demo config already raise PSNR and LR-PSNR by more than 1 dB over the untrained model."""
    monkeypatch.chdir(tmp_path)  # run_demo changes to the repository root; the working directory is restored
    with open(osp.join(project_root(), 'options', 'train_SRDDGAN_demo_x4.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = f'pytest_demo_{uuid.uuid4().hex[:8]}'
    opt_path = tmp_path / 'demo.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    spec = importlib.util.spec_from_file_location('run_demo', osp.join(project_root(), 'scripts', 'run_demo.py'))
    run_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_demo)
    try:
        line = run_demo.main(['--opt', str(opt_path), '--total-iter', '30'])
        psnr0, psnr1, lr_psnr0, lr_psnr1 = map(float, re.search(
            r'PSNR (\S+) -> (\S+) dB, LR-PSNR (\S+) -> (\S+) dB \(iteration 0 -> 30\)', line).groups())
        assert psnr1 > psnr0 + 1 and lr_psnr1 > lr_psnr0 + 1
        assert line in capsys.readouterr().out
        for label in ('iter0', 'final'):
            assert osp.isdir(osp.join(project_root(), 'results', f'{opt["name"]}_{label}', 'visualization'))
    finally:
        for folder in (osp.join('experiments', opt['name']), osp.join('results', f'{opt["name"]}_iter0'),
                       osp.join('results', f'{opt["name"]}_final')):
            shutil.rmtree(osp.join(project_root(), folder), ignore_errors=True)
