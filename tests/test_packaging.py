"""Tests of the packaging: the wheel's content (option files, licence, commands, dependencies), the citation file,
CI running the README's install and test commands as written, the supported Pythons, and BasicSR's wheel in
third_party/basicsr (found through the constraints files, rebuilt byte for byte by scripts/build_basicsr_wheel.py)."""
import hashlib
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from os import path as osp

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from srddgan_arch.version import __version__

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASICSR_DIR = osp.join(ROOT, 'third_party', 'basicsr')
BASICSR_WHEEL = osp.join(BASICSR_DIR, 'basicsr-1.4.2-py3-none-any.whl')
SUPPORTED_PYTHONS = ['3.11', '3.12', '3.13']


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
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', str(tmp_path), ROOT], check=True)
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


def test_supported_pythons_are_stated_alike_in_pyproject_constraints_and_ci():
    """requires-python admits 3.11-3.13 only, the classifiers name them, constraints.txt's header says its pins were
    tested on them, and .ci/run runs Python 3.13."""
    with open(osp.join(ROOT, 'pyproject.toml'), 'rb') as f:
        project = tomllib.load(f)['project']
    requires_python = SpecifierSet(project['requires-python'])
    assert [v for v in ['3.10', *SUPPORTED_PYTHONS, '3.14'] if v in requires_python] == SUPPORTED_PYTHONS
    versions = [c.rsplit(' :: ', 1)[1] for c in project['classifiers'] if re.fullmatch(r'.*Python :: 3\.\d+', c)]
    assert versions == SUPPORTED_PYTHONS
    with open(osp.join(ROOT, 'constraints.txt'), encoding='utf-8') as f:
        header = ''.join(line for line in f if line.startswith('#'))
    assert 'tested with: CPython 3.11' in header and all(v in header for v in SUPPORTED_PYTHONS)
    with open(osp.join(ROOT, '.ci', 'run'), encoding='utf-8') as f:
        assert '"$python313" -m venv' in f.read()


@pytest.mark.parametrize('constraints', ['constraints.txt', 'constraints-app.txt'])
def test_constraints_files_take_basicsr_from_its_wheel_only(constraints):
    """Each constraints file points pip at third_party/basicsr and forbids building BasicSR from source."""
    with open(osp.join(ROOT, constraints), encoding='utf-8') as f:
        lines = [line.strip() for line in f]
    assert {'--find-links third_party/basicsr', '--only-binary basicsr', 'basicsr==1.4.2'} <= set(lines)
    assert not any(line.lower().startswith('cython') for line in lines)


def test_vendored_basicsr_wheel_is_pure_python_licensed_and_its_hash_stated():
    """The committed wheel is py3-none-any without compiled code, holds BasicSR's Apache-2.0 licence and its released
    version file, and third_party/basicsr/README.md states its SHA-256; the licence also lies beside it."""
    with open(BASICSR_WHEEL, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(osp.join(BASICSR_DIR, 'README.md'), encoding='utf-8') as f:
        assert f'`{digest}`' in f.read()
    wheel = zipfile.ZipFile(BASICSR_WHEEL)
    assert not [n for n in wheel.namelist() if n.endswith(('.so', '.pyd', '.dylib'))]
    assert 'Tag: py3-none-any' in wheel.read('basicsr-1.4.2.dist-info/WHEEL').decode()
    assert 'Version: 1.4.2' in wheel.read('basicsr-1.4.2.dist-info/METADATA').decode()
    licence = wheel.read('basicsr-1.4.2.dist-info/licenses/LICENSE.txt')
    with open(osp.join(BASICSR_DIR, 'LICENSE.txt'), 'rb') as f:
        assert f.read() == licence and b'Apache License' in licence
    assert b"__gitsha__ = '651835a'" in wheel.read('basicsr/version.py')


@pytest.mark.slow
def test_pip_takes_basicsr_from_the_constraints_folder_from_any_directory(tmp_path):
    """From another working directory, pip resolves basicsr==1.4.2 through constraints.txt to the committed wheel (the
    folder is read relative to the file), not to PyPI's sdist."""
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '-q', '-d', 'out', '-c',
                    osp.join(ROOT, 'constraints.txt'), 'basicsr'], cwd=tmp_path, check=True)
    assert os.listdir(tmp_path / 'out') == ['basicsr-1.4.2-py3-none-any.whl']
    with open(BASICSR_WHEEL, 'rb') as f:
        assert (tmp_path / 'out' / 'basicsr-1.4.2-py3-none-any.whl').read_bytes() == f.read()


@pytest.mark.slow
def test_build_script_reproduces_the_vendored_basicsr_wheel_byte_for_byte(tmp_path):
    """scripts/build_basicsr_wheel.py (the sdist and setuptools downloaded) rebuilds the committed wheel exactly."""
    subprocess.run([sys.executable, osp.join(ROOT, 'scripts', 'build_basicsr_wheel.py'), '-o', str(tmp_path)],
                   check=True)
    for name in ('basicsr-1.4.2-py3-none-any.whl', 'LICENSE.txt'):
        with open(osp.join(BASICSR_DIR, name), 'rb') as f:
            assert (tmp_path / name).read_bytes() == f.read(), name
