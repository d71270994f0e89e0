"""Tests of srddgan_arch.option_files: the packaged option files, found by name in a checkout and in the installed
layout, listed by ``srddgan-infer --list-options``, and resolved before BasicSR parses ``-opt``."""
import os
import sys
from os import path as osp

import pytest
import yaml
from basicsr.utils import options as basicsr_options

from srddgan_arch import compat, entry, option_files
from srddgan_arch.inference import main as infer_main
from srddgan_arch.option_files import describe_option_files, packaged_option_files, resolve_option_file

OPTIONS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'options')


def test_names_resolve_to_the_packaged_files_and_paths_stay():
    """Every options/*.yml is packaged under its name; anything with a / or the .yml ending is a path, unchanged."""
    names = {osp.splitext(name)[0] for name in os.listdir(OPTIONS) if name.endswith('.yml')}
    assert set(packaged_option_files()) == names and 'train_SRDDGAN_demo_x4' in names
    assert resolve_option_file('train_SRDDGAN_demo_x4') == osp.join(OPTIONS, 'train_SRDDGAN_demo_x4.yml')
    for path in ('options/train_SRDDGAN_demo_x4.yml', 'mine.yml', 'mine.YAML', './train_SRDDGAN_demo_x4'):
        assert resolve_option_file(path) == path


def test_unknown_name_lists_the_packaged_ones():
    """A name that no packaged file has is one error saying what a path looks like and listing the names."""
    with pytest.raises(FileNotFoundError, match=r"'train_demo' is not a packaged option file \(a path needs a / or "
                                                r"the \.yml ending\); packaged: test_ESRGAN_baseline_x4, .*"
                                                r"train_SRDDGAN_demo_x4"):
        resolve_option_file('train_demo')


def test_installed_layout_reads_the_configs_package(tmp_path, monkeypatch):
    """Installed, the files are srddgan_arch/configs beside the modules (the wheel's copy of options/)."""
    (tmp_path / 'configs').mkdir()
    (tmp_path / 'configs' / 'mine.yml').write_text(yaml.safe_dump({'model_type': 'SRDDGANModel', 'scale': 2}))
    monkeypatch.setattr(option_files, 'PACKAGE_DIR', str(tmp_path))
    assert resolve_option_file('mine') == str(tmp_path / 'configs' / 'mine.yml')
    assert describe_option_files().splitlines()[1:] == ['  mine  SRDDGANModel, x2']


def test_list_options_prints_every_name_and_exits(capsys):
    """``srddgan-infer --list-options`` needs no other argument: it prints name, model and scale of each file."""
    with pytest.raises(SystemExit) as exited:
        infer_main(['--list-options'])
    out = capsys.readouterr().out.splitlines()
    assert exited.value.code == 0 and out[0].endswith(f'in {OPTIONS}:')
    assert len(out) == 1 + len(packaged_option_files())
    assert any(line.split() == ['train_SRDDGAN_demo_x4', 'SRDDGANModel,', 'x4'] for line in out)


def test_infer_takes_a_name_and_refuses_an_unknown_one(capsys):
    """``-opt NAME`` reaches srddgan-infer as the packaged path; an unknown name is a usage error (exit 2)."""
    from srddgan_arch.inference.cli import parse_args
    args = parse_args(['-i', 'x.png', '-opt', 'test_SRDDGAN_DIV2K_x4', '--model_path', 'g.pth'])
    assert args.opt == osp.join(OPTIONS, 'test_SRDDGAN_DIV2K_x4.yml')
    with pytest.raises(SystemExit) as exited:
        parse_args(['-i', 'x.png', '-opt', 'test_DIV2K', '--model_path', 'g.pth'])
    assert exited.value.code == 2 and "'test_DIV2K' is not a packaged option file" in capsys.readouterr().err


def test_train_and_test_resolve_a_name_before_basicsr_parses_it(tmp_path, monkeypatch):
    """srddgan-train/-test (``entry``) and BasicSR's parse_options as srddgan replaces it (for a user's own
    train.py) hand BasicSR the packaged file's path; an unknown name stops the entry point with one line."""
    monkeypatch.chdir(tmp_path)
    argv = ['srddgan-train', '-opt', 'train_SRDDGAN_demo_x4']
    entry._enter_root(argv)
    assert argv[2] == osp.join(OPTIONS, 'train_SRDDGAN_demo_x4.yml')
    with pytest.raises(SystemExit, match="-opt: 'nothing' is not a packaged option file"):
        entry._enter_root(['srddgan-test', '-opt', 'nothing'])
    seen = []

    def basicsr_parse_options(root_path, is_train=True):
        seen.append(list(sys.argv))
        return {'path': {}}, None

    monkeypatch.setattr(basicsr_options, 'parse_options', basicsr_parse_options)
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', 'test_SRDDGAN_DIV2K_x4'])
    compat.parse_options(str(tmp_path), is_train=False)
    assert seen == [['train.py', '-opt', osp.join(OPTIONS, 'test_SRDDGAN_DIV2K_x4.yml')]]
