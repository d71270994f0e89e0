"""Tests of srddgan_arch.option_files: the packaged option files, found by name in a checkout and in the installed
layout, listed by ``srddgan-infer --list-options``, and resolved before BasicSR parses ``-opt``."""
import collections
import os
import sys
from os import path as osp

import pytest
import yaml
from basicsr.utils import options as basicsr_options

from srddgan_arch import option_files, run_start
from srddgan_arch.commands import pipeline, test, train
from srddgan_arch.commands.infer import main as infer_main
from srddgan_arch.option_files import describe_option_files, packaged_option_files, resolve_option_file
from srddgan_arch.options import OptionError

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
    from srddgan_arch.commands.infer import parse_args
    args = parse_args(['-i', 'x.png', '-opt', 'test_SRDDGAN_DIV2K_x4', '--model_path', 'g.pth'])
    assert args.opt == osp.join(OPTIONS, 'test_SRDDGAN_DIV2K_x4.yml')
    with pytest.raises(SystemExit) as exited:
        parse_args(['-i', 'x.png', '-opt', 'test_DIV2K', '--model_path', 'g.pth'])
    assert exited.value.code == 2 and "'test_DIV2K' is not a packaged option file" in capsys.readouterr().err


def test_train_and_test_resolve_a_name_before_basicsr_parses_it(tmp_path, monkeypatch):
    """srddgan-train/-test (``commands/pipeline``) and BasicSR's parse_options as srddgan replaces it (for a user's own
    train.py) hand BasicSR the packaged file's path; an unknown name stops the entry point with one line."""
    monkeypatch.chdir(tmp_path)
    argv = ['srddgan-train', '-opt', 'my.yml']
    pipeline.enter_root(argv)  # a path is read from where the command started
    assert argv[2] == str(tmp_path / 'my.yml')
    monkeypatch.setattr(sys, 'argv', ['srddgan-test', '-opt', 'nothing'])
    with pytest.raises(OptionError, match="-opt: 'nothing' is not a packaged option file"):
        run_start.parse_options(str(tmp_path), is_train=False)
    seen = []

    def basicsr_parse_options(root_path, is_train=True):
        seen.append(list(sys.argv))
        return {'path': {}}, None

    monkeypatch.setattr(basicsr_options, 'parse_options', basicsr_parse_options)
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', 'test_SRDDGAN_DIV2K_x4'])
    run_start.parse_options(str(tmp_path), is_train=False)
    assert seen == [['train.py', '-opt', osp.join(OPTIONS, 'test_SRDDGAN_DIV2K_x4.yml')]]


def test_basicsr_parses_the_option_file_srddgan_read(tmp_path, monkeypatch):
    """The run start reads the option file once: BasicSR's parse_options takes what srddgan read (mappings as its own
    loader makes them) instead of reading the file again."""
    option_file = tmp_path / 'o.yml'
    option_file.write_text(yaml.safe_dump({'name': 'x', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
                                           'manual_seed': 0, 'datasets': {}, 'path': {}}))
    read = option_files.load_option_file(str(option_file))
    monkeypatch.setattr(run_start, 'load_option_file', lambda path: dict(read, name='as_read'))
    monkeypatch.setattr(sys, 'argv', ['test.py', '-opt', str(option_file)])
    opt, _ = run_start.parse_options(str(tmp_path), is_train=False)
    assert opt['name'] == 'as_read' and type(opt) is collections.OrderedDict


def _alias_bomb(levels=9):
    """YAML of about 1 KB whose aliases expand to 9**levels strings ("billion laughs"), under train.ema_decay."""
    lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
    lines += [f'a{i}: &a{i} [{", ".join([f"*a{i - 1}"] * 9)}]' for i in range(1, levels)]
    return '\n'.join(lines + ['train:', f'  ema_decay: [*a{levels - 1}, *a{levels - 1}]']) + '\n'


def test_load_yaml_refuses_aliases_that_expand_without_bound(tmp_path):
    """An alias bomb is refused at once, naming the file and the first key whose value explodes; a file with an
    ordinary alias loads as yaml.safe_load reads it; python tags stay refused."""
    (tmp_path / 'bomb.yml').write_text(_alias_bomb())
    with pytest.raises(yaml.YAMLError, match=r'bomb\.yml: a5 expands to more than 100,000 values'):
        option_files.load_yaml(str(tmp_path / 'bomb.yml'))
    (tmp_path / 'nested.yml').write_text('train:\n  x: 1\n  ' + _alias_bomb().replace('\n', '\n  '))
    with pytest.raises(yaml.YAMLError, match=r'nested\.yml: train\.a5 expands'):
        option_files.load_yaml(str(tmp_path / 'nested.yml'))
    (tmp_path / 'alias.yml').write_text('optim: &adam {type: AdamW, lr: 1.0e-4}\noptim_g: *adam\noptim_d: *adam\n')
    assert option_files.load_yaml(str(tmp_path / 'alias.yml'))['optim_d'] == {'type': 'AdamW', 'lr': 1e-4}
    (tmp_path / 'tag.yml').write_text('x: !!python/object/apply:os.system [echo]\n')
    with pytest.raises(yaml.YAMLError):
        option_files.load_yaml(str(tmp_path / 'tag.yml'))


@pytest.mark.parametrize('content, message', [
    ('name: x\nmodel_type: SRDDGANModel\nscale: 4\nnum_gpu: 0\nbogus_key: 1\n', 'Unknown option bogus_key.'),
    (_alias_bomb(), 'expands to more than 100,000 values'),
])
def test_train_and_test_mistakes_are_one_line(tmp_path, monkeypatch, capsys, content, message):
    """A mistake in the option file stops srddgan-train / srddgan-test with one line and exit code 2; --debug shows
    the traceback."""
    (tmp_path / 'bad.yml').write_text(content)
    monkeypatch.chdir(tmp_path)  # the entry points change to the project root
    for prog, run in (('srddgan-train', train.train), ('srddgan-test', test.test)):
        monkeypatch.setattr(sys, 'argv', [prog, '-opt', str(tmp_path / 'bad.yml')])
        with pytest.raises(SystemExit) as exit_info:
            run()
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and err.startswith(f'{prog}: error: ') and message in err, err
        assert len(err.splitlines()) == 1 and len(err) < 1000
    monkeypatch.setattr(sys, 'argv', ['srddgan-train', '-opt', str(tmp_path / 'bad.yml'), '--debug'])
    with pytest.raises(Exception, match=message.split(' ')[0]):
        train.train()


@pytest.mark.parametrize('force_yml, message', [
    ('trian:total_iter=5', r"--force_yml trian:total_iter=5: trian is not a section .* Did you mean 'train'\?"),
    ('train:total_iter', r'--force_yml train:total_iter: expected KEY:SUBKEY=VALUE with one "="'),
    ('a=b=c', r'--force_yml a=b=c: expected KEY:SUBKEY=VALUE'),
    ('train:optim_gg:lr=1', r'train:optim_gg is not a section .* Did you mean .optim_g.\?'),
])
def test_force_yml_mistakes_are_named_before_basicsr_runs_them(tmp_path, monkeypatch, force_yml, message):
    """--force_yml entries that BasicSR would fail on (KeyError, unpacking) are one error naming the entry."""
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', 'train_SRDDGAN_demo_x4', '--force_yml', 'name=x',
                                      force_yml, '--auto_resume'])
    monkeypatch.setattr(basicsr_options, 'parse_options', lambda *args, **kwargs: pytest.fail('BasicSR parsed'))
    with pytest.raises(OptionError, match=message):
        run_start.parse_options(str(tmp_path))


@pytest.mark.parametrize('seed', [[1], -3, 1.5, 2**32])
def test_manual_seed_is_checked_before_basicsr_seeds_with_it(tmp_path, monkeypatch, seed):
    """BasicSR seeds the generators while it parses: a seed that is no int in [0, 2**32) failed inside it."""
    with open(osp.join(OPTIONS, 'train_SRDDGAN_demo_x4.yml')) as f:
        opt = yaml.safe_load(f)
    (tmp_path / 'seed.yml').write_text(yaml.safe_dump(dict(opt, manual_seed=seed)))
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(tmp_path / 'seed.yml')])
    monkeypatch.setattr(basicsr_options, 'parse_options', lambda *args, **kwargs: pytest.fail('BasicSR parsed'))
    with pytest.raises(OptionError, match=r'manual_seed must be an int in \[0, 4294967295\]'):
        run_start.parse_options(str(tmp_path))


@pytest.mark.parametrize('text, message', [
    ('name: a\ntrain:\n  lr: 1\n  total_iter: 2\n  lr: 3\n', r'train\.lr is given twice, on lines 3 and 5: keep one'),
    ('name: a\nmodel_type: X\nname: b\n', r'name is given twice, on lines 1 and 3'),
    ('datasets:\n  - {a: 1, a: 2}\n', r'datasets\[0\]\.a is given twice, on lines 2 and 2'),
])
def test_duplicate_keys_are_refused_naming_file_key_and_lines(tmp_path, text, message):
    """YAML keeps the last of two equal keys silently (an edit of the first changes nothing): refused, naming the
    file, the key and both lines; merge keys (<<) still override."""
    path = tmp_path / 'dup.yml'
    path.write_text(text)
    with pytest.raises(yaml.YAMLError, match=rf'{path}: {message}'):
        option_files.load_yaml(str(path))
    path.write_text('base: &base {lr: 1, beta: 2}\ntrain:\n  <<: *base\n  lr: 3\n')
    assert option_files.load_yaml(str(path))['train'] == {'lr': 3, 'beta': 2}


@pytest.mark.parametrize('text, what', [('', 'empty'), ('# only a comment\n', 'empty'), ('{}\n', 'empty'),
                                        ('- name: a\n', 'a list, not a mapping'), ('train.yml\n', 'a str, not a')])
def test_an_empty_or_non_mapping_option_file_is_one_line_naming_it(tmp_path, monkeypatch, capsys, text, what):
    """An option file that is empty or not a mapping of options is one line naming the file, exit code 2."""
    path = tmp_path / 'bad.yml'
    path.write_text(text)
    monkeypatch.setattr(sys, 'argv', ['srddgan-train', '-opt', str(path)])
    monkeypatch.setattr(basicsr_options, 'parse_options', lambda *args, **kwargs: pytest.fail('BasicSR parsed'))
    monkeypatch.setattr(pipeline, 'project_root', lambda: str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        pipeline.run_pipeline(lambda argv: run_start.parse_options(str(tmp_path)), 'srddgan-train')
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count('\n') == 1
    assert err.startswith(f'srddgan-train: error: {path}: the option file is {what}')
