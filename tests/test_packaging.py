"""Tests of the packaging: the wheel's content (option files, licence, commands, dependencies), the citation file,
and CI running the README's install and test commands as written."""
import os
import re
import subprocess
import sys
import zipfile
from os import path as osp

import pytest
import yaml

from srddgan_arch.version import __version__

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def readme_commands():
    """The ``pip install`` command lines of the README's bash blocks."""
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        blocks = re.findall(r'```bash\n(.*?)```', f.read(), flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith('pip install')]


def test_ci_runs_the_readme_install_and_test_commands_as_written():
    """Every install line of the README (the install, wheel and test commands) is a line of .ci/run, as written."""
    with open(osp.join(ROOT, '.ci', 'run'), encoding='utf-8') as f:
        ci_lines = [line.strip() for line in f]
    commands = readme_commands()
    assert any(line.endswith('python -m pytest -q tests') for line in commands) and len(commands) >= 2
    assert [line for line in commands if line not in ci_lines] == []


def test_citation_names_the_paper_and_this_version():
    """CITATION.cff cites the paper (DOI, its seven authors) first and this implementation at its version."""
    with open(osp.join(ROOT, 'CITATION.cff'), encoding='utf-8') as f:
        citation = yaml.safe_load(f)
    paper = citation['preferred-citation']
    assert paper['doi'] == '10.1038/s41598-024-52370-3' and paper['journal'] == 'Scientific Reports'
    assert [a['family-names'] for a in paper['authors']] == ['Xiao', 'Wang', 'Wang', 'Cai', 'Deng', 'Yan', 'Tang']
    assert citation['version'] == __version__ and citation['license'] == 'Apache-2.0'


@pytest.mark.slow
def test_wheel_ships_option_files_licence_commands_and_dependencies(tmp_path):
    """``pip wheel .``: every options/*.yml as srddgan_arch/configs/*.yml (one copy in the repository), the
    Apache-2.0 licence, the five console scripts, safetensors and psutil as dependencies, the extras."""
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                    str(tmp_path), ROOT], check=True)
    wheel = zipfile.ZipFile(tmp_path / f'srddgan-{__version__}-py3-none-any.whl')
    names = set(wheel.namelist())
    options = {f'srddgan_arch/configs/{name}' for name in os.listdir(osp.join(ROOT, 'options'))}
    assert options <= names and 'srddgan_arch/configs/train_SRDDGAN_demo_x4.yml' in names
    dist_info = f'srddgan-{__version__}.dist-info'
    assert 'Apache License' in wheel.read(f'{dist_info}/licenses/LICENSE').decode()
    entry_points = wheel.read(f'{dist_info}/entry_points.txt').decode()
    for script in ('srddgan-train', 'srddgan-test', 'srddgan-infer', 'srddgan-export', 'srddgan-app'):
        assert f'{script} = ' in entry_points
    metadata = wheel.read(f'{dist_info}/METADATA').decode()
    assert 'License-Expression: Apache-2.0' in metadata
    for line in ('Requires-Dist: safetensors', 'Requires-Dist: psutil', 'Provides-Extra: test',
                 'Provides-Extra: wandb', 'Provides-Extra: onnx', 'Provides-Extra: app',
                 'Requires-Dist: basicsr==1.4.2'):
        assert line in metadata
