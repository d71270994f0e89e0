"""One run per experiment folder (srddgan_arch.utils.run_lock): a second run with the same name is refused naming the
running one, also with --auto_resume; a run that crashed or was killed leaves no lock behind."""
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
import yaml
from conftest import write_paired_images
from test_train_resume import entry_script, sr_options

from srddgan_arch.options import OptionError
from srddgan_arch.utils.run_lock import RunLock, lock_run_folder


def test_a_held_folder_is_refused_naming_the_holder(tmp_path):
    """The lock is a file beside the folder (BasicSR's archiving moves the folder); while one holder has it, another
    is refused with its pid, host and start time; released (as the end of a process releases it), it is free."""
    folder = tmp_path / 'experiments' / 'run'
    first = RunLock(str(folder))
    assert first.path == str(tmp_path / 'experiments' / '.run.lock')
    with pytest.raises(OptionError, match=rf'{folder} is in use by a running run \(pid {os.getpid()} on '
                                          rf'{re.escape(socket.gethostname())}, started \d{{4}}-\d\d-\d\d '):
        RunLock(str(folder))
    first.release()
    RunLock(str(folder)).release()


def test_a_link_at_the_lock_is_not_followed(tmp_path):
    """A symbolic link in place of the lock file is not opened through (it could point at any file)."""
    (tmp_path / 'target').write_text('keep')
    os.symlink(tmp_path / 'target', tmp_path / '.run.lock')
    with pytest.raises(OSError):
        RunLock(str(tmp_path / 'run'))
    assert (tmp_path / 'target').read_text() == 'keep'


def test_the_folder_locked_is_the_one_basicsr_writes(tmp_path):
    """Training locks experiments/<name>, testing results/<name>; rank 0 alone; a process that runs one pipeline
    after another (a test, a script) keeps its lock instead of refusing itself."""
    path = {'experiments_root': str(tmp_path / 'experiments' / 'a'), 'results_root': str(tmp_path / 'results' / 'a')}
    lock_run_folder({'is_train': True, 'rank': 1, 'path': path})
    assert not (tmp_path / 'experiments').exists()
    lock_run_folder({'is_train': True, 'rank': 0, 'path': path})
    lock_run_folder({'is_train': True, 'rank': 0, 'path': path})
    lock_run_folder({'is_train': False, 'rank': 0, 'path': path})
    assert (tmp_path / 'experiments' / '.a.lock').is_file() and (tmp_path / 'results' / '.a.lock').is_file()
    with pytest.raises(OptionError, match='is in use by a running run'):
        RunLock(path['experiments_root'])


@pytest.mark.slow
def test_a_second_run_of_the_same_name_is_refused_until_the_first_dies(run_root):
    """While a run trains, a second run with its name (also with --auto_resume) is refused with one line naming the
    first, and the first run's folder is not archived; after the first is killed with SIGKILL, a run of that name
    starts (the kernel released the lock)."""
    options = sr_options('same', *write_paired_images(str(run_root / 'data')), total_iter=10**6, save_freq=2)
    option_file = run_root / 'same.yml'
    option_file.write_text(yaml.safe_dump(options))
    command = [sys.executable, entry_script(run_root, 'train'), '-opt', str(option_file)]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    first = subprocess.Popen(command, cwd=run_root, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in first.stderr:
            if re.search(r'iter:\s+2,', line):
                break
        for flags in ([], ['--auto_resume']):
            second = subprocess.run([*command, *flags], cwd=run_root, capture_output=True, text=True, env=env,
                                    timeout=120)
            assert second.returncode == 2 and second.stderr.count('\n') == 1, second.stderr[-3000:]
            assert re.match(rf'srddgan-train: error: .*experiments/same is in use by a running run \(pid {first.pid} '
                            rf'on {re.escape(socket.gethostname())}, started ', second.stderr)
        assert os.listdir(run_root / 'experiments') == ['.same.lock', 'same']  # nothing archived
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    options['train']['total_iter'] = 3
    option_file.write_text(yaml.safe_dump(options))
    after = subprocess.run([*command, '--auto_resume'], cwd=run_root, capture_output=True, text=True, env=env,
                           timeout=300)
    assert after.returncode == 0 and 'Resuming training' in after.stderr, after.stderr[-3000:]
