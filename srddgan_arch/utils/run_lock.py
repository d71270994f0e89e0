"""One run per experiment folder: a run holds a lock on its folder for its whole life.

BasicSR archives an existing ``experiments/<name>`` (``mkdir_and_rename``) at the start of a run, also the folder of a
run still writing there, and ``--auto_resume`` lets two runs write the same folder. The lock is an ``flock`` on
``.<name>.lock`` beside the folder (not inside it: BasicSR's archiving moves the folder, and a lock inside would move
with it), taken before BasicSR touches the folder. The kernel releases it when the process ends, however it ends: a
crashed or killed run leaves nothing to clean up. The file names the holder (pid, host, start time) for the message
of a run that is refused.
"""
import fcntl
import os
import socket
import time
from os import path as osp

from srddgan_arch.options.schema import OptionError

_held = {}  # lock file -> RunLock: the locks of this process, kept open until it ends


class RunLock:
    """The lock of one experiment (or results) folder, held from construction until :meth:`release` or the end of the
    process.

    Args:
        folder (str): The folder, e.g. ``experiments/<name>``; its parent is created.

    Raises:
        OptionError: Another process holds the lock: the message names it.
    """

    def __init__(self, folder):
        self.path = self.path_of(folder)
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 1000, 0).decode(errors='replace').strip() or 'another process'
            os.close(self._fd)
            raise OptionError(f'{folder} is in use by a running run ({holder}): wait for it to end or give another '
                              'name.') from None
        started = time.strftime('%Y-%m-%d %H:%M:%S %Z')
        # written in place (the file itself is the lock); a reader sees the holder once the lock is taken
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f'pid {os.getpid()} on {socket.gethostname()}, started {started}'.encode(), 0)

    @staticmethod
    def path_of(folder):
        """The lock file of ``folder``: ``.<name>.lock`` beside it."""
        folder = osp.abspath(folder)
        return osp.join(osp.dirname(folder), f'.{osp.basename(folder)}.lock')

    def release(self):
        """Release the lock (the end of the process releases it too)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_run_folder(opt):
    """Lock the folder a run writes (``experiments/<name>`` in training, ``results/<name>`` in testing) for the life of
    this process; rank 0 alone locks (the other ranks write nothing there).

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.

    Raises:
        OptionError: The folder is in use by another running run.
    """
    folder = opt['path'].get('experiments_root' if opt.get('is_train') else 'results_root')
    if opt.get('rank', 0) != 0 or folder is None:  # (None: options not made by BasicSR's parse_options)
        return
    if RunLock.path_of(folder) not in _held:  # a process running pipelines one after another (a test) keeps its lock
        _held[RunLock.path_of(folder)] = RunLock(folder)
