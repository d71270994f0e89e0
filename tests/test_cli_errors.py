"""Every script's mistakes are one line on stderr and a non-zero exit (``cli_errors.run_main``), the traceback with
``--debug``: each script's ``main`` run in-process with a missing file or a bad argument."""
import subprocess
import sys

import pytest
from conftest import SCRIPTS, load_script

from srddgan_arch.cli_errors import one_line, run_main

# script -> (arguments, with {tmp} for the test's folder; exit code; what the line must say)
CASES = {
    'benchmark_backends': (['-opt', '{tmp}/missing.yml'], 1, 'missing.yml'),
    'benchmark_quality': (['--gt', '{tmp}/no_gt', '--methods', 'bicubic'], 1, 'no_gt'),
    'benchmark_speed': (['-opt', '{tmp}/missing.yml'], 1, 'missing.yml'),
    'content_fusion': (['--source', '{tmp}/missing.png', '--target', '{tmp}/missing.png', '--box', '0,0,4,4', '-opt',
                        'options/test_RRDB_baseline_x4.yml', '--model_path', '{tmp}/missing.pth'], 1, 'missing'),
    'count_params': (['-opt', '{tmp}/missing.yml'], 1, 'missing.yml'),
    'estimate_gpu_hours': (['-opt', '{tmp}/missing.yml'], 1, 'missing.yml'),
    'generate_meta_info': (['--input', '{tmp}/no_folder', '--meta_info', '{tmp}/meta.txt'], 1, 'no_folder'),
    'loss_scales': (['-opt', '{tmp}/missing.yml'], 1, 'missing.yml'),
    'perception_distortion': (['--gan_weights', 'x'], 2, '--gan_weights'),
    'prepare_cifar10': (['--input', '{tmp}/no_folder', '--output', '{tmp}/out'], 1, 'no_folder'),
    'prepare_demo_data': (['--scale', 'x'], 2, '--scale'),
    'prepare_div2k': (['--input', '{tmp}/no_folder', '--output', '{tmp}/out'], 1, 'no_folder'),
    'prepare_faces': (['--input', '{tmp}/no_folder', '--output', '{tmp}/out'], 1, 'no_folder'),
    'realworld_study': (['--variants', 'bicubic_x'], 2, '--variants'),
    'run_demo': (['-opt', '{tmp}/missing.yml'], 1, 'missing.yml'),
    'show_degradations': (['-opt', '{tmp}/missing.yml', '-i', '{tmp}/missing.png', '-o', '{tmp}/o.png'], 1, 'missing'),
}


def run_script_main(name, argv, capsys):
    """``run_main`` of scripts/<name>.py's ``main`` -> (exit code, stderr); argparse exits through SystemExit."""
    try:
        code = run_main(load_script(name).main, f'{name}.py', argv)
    except SystemExit as error:
        code = error.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize('name', CASES)
def test_script_mistakes_are_one_line(tmp_path, capsys, name):
    """A missing file or a bad value: one line naming it, the script's name first, no traceback, exit 1 (2 for a
    usage error)."""
    argv, code, words = CASES[name]
    exit_code, err = run_script_main(name, [arg.format(tmp=tmp_path) for arg in argv], capsys)
    assert exit_code == code and err.startswith(f'{name}.py: error: ') and words in err, err
    assert err.count('\n') == 1 and 'Traceback' not in err, err


def test_debug_shows_the_traceback(tmp_path, capsys):
    """With --debug the exception propagates (its traceback), --debug itself is not passed to the script."""
    with pytest.raises(FileNotFoundError, match='no_folder'):
        run_main(load_script('generate_meta_info').main, 'generate_meta_info.py',
                 ['--input', str(tmp_path / 'no_folder'), '--meta_info', str(tmp_path / 'm.txt'), '--debug'])


def test_one_line_of_an_exception():
    """A user mistake is its message on one line (KeyError's without quotes); anything else keeps its type."""
    assert one_line(FileNotFoundError('a\n  b')) == 'a b'
    assert one_line(KeyError('datasets.train')) == 'datasets.train'
    assert one_line(RuntimeError('boom')) == 'RuntimeError: boom'
    assert one_line(ValueError()) == 'ValueError'
    assert one_line(FileNotFoundError(2, 'No such file or directory', 'x.yml')) == 'x.yml: No such file or directory'


@pytest.mark.slow
def test_a_script_run_as_a_program_exits_with_one_line(tmp_path):
    """``python scripts/generate_meta_info.py`` itself: one line on stderr and exit 1 (the ``__main__`` wiring)."""
    result = subprocess.run([sys.executable, f'{SCRIPTS}/generate_meta_info.py', '--input', str(tmp_path / 'none'),
                             '--meta_info', str(tmp_path / 'm.txt')], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.startswith('generate_meta_info.py: error: '), result.stderr
    assert result.stderr.count('\n') == 1
