"""Training states that survive a kill and continue exactly: atomic files, random states, the resumed position.

BasicSR writes checkpoints in place, and a resumed run restarts its epoch from the first batch with new random
streams. srddgan's models (``models/training_mixin.py``) write through :func:`atomic_torch_save`, store
:func:`get_rng_states` in the training state and, when resumed, hand their position to :class:`ResumableSampler`.
"""
import errno
import logging
import os
import random
import re
import shutil
from os import path as osp
from typing import NamedTuple

import numpy as np
import torch
from basicsr.data.data_sampler import EnlargedSampler

from srddgan_arch.options.schema import OptionError
from srddgan_arch.utils.checkpoint import load_checkpoint

# atomic_write's temporary file: '<file>.tmp<pid of the saving process>'
_TEMPORARY = re.compile(r'.+\.tmp(\d+)$')


def atomic_torch_save(obj, path):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename: ``path`` is complete or absent.

    Args:
        obj: What to save.
        path (str): The file.
    """
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write(path, write, overwrite=True):
    """Call ``write(f)`` on a temporary file in the same folder, fsync, then rename it to ``path``: ``path`` is
    complete or absent (an existing file is replaced only then), and a link at ``path`` is replaced, never written
    through.

    Args:
        path (str): The file.
        write (callable): Writes the content to the binary file object it is given.
        overwrite (bool): Replace an existing ``path``; else it is linked into place, which fails when ``path``
            exists (also when another process wrote it meanwhile). Default: True.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: Writing failed (a full disk, an I/O error): its errno and words, and ``path`` as its filename (one
            line: "[Errno 28] No space left on device: 'path'"); ``path`` is unchanged.
    """
    tmp_path = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp_path, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp_path, path)
        else:
            os.link(tmp_path, path)
    except FileExistsError:
        raise
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write as RuntimeError "unexpected pos"
        raise OSError(*_write_failure(error, osp.dirname(osp.abspath(path))), os.fspath(path)) from error
    finally:
        if osp.lexists(tmp_path):
            os.remove(tmp_path)


def _write_failure(error, folder):
    """(errno, words) of a failed write: the OSError behind it (raised, or the context of torch's RuntimeError),
    else a full disk found by asking the file system, else EIO with the error's own message."""
    cause = error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__context__ or cause.__cause__
    if cause is not None and cause.errno is not None:
        return cause.errno, os.strerror(cause.errno)
    if shutil.disk_usage(folder).free == 0:
        return errno.ENOSPC, os.strerror(errno.ENOSPC)
    return errno.EIO, ' '.join(str(error).split())


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folders):
    """Delete the temporary files that :func:`atomic_torch_save` leaves when its process is killed while saving
    (those of processes still running are kept: they may be saving now).

    Args:
        folders (list[str]): Checkpoint folders; missing ones are skipped.

    Returns:
        list[str]: The deleted files.
    """
    removed = []
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            match = _TEMPORARY.fullmatch(name)
            if match and not _process_alive(int(match.group(1))):
                os.remove(osp.join(folder, name))
                removed.append(osp.join(folder, name))
    return removed


def load_training_state(path, map_location='cpu'):
    """The training state at ``path``, or None when it is missing or unreadable (e.g. cut off by a kill).

    Args:
        path (str): A ``<iter>.state`` file.
        map_location (str | torch.device): Where its tensors go. Default: 'cpu'.

    Returns:
        dict | None: The state.
    """
    try:
        return load_checkpoint(path, map_location)
    except Exception:  # a truncated or foreign file: the caller falls back to an older one
        return None


def latest_resume_state(state_dir, map_location='cpu'):
    """The newest training state in ``state_dir`` that loads, as (path, state); (None, None) when there is none.

    Newest first; an unreadable state (e.g. written by a non-atomic saver and cut off) is skipped with a warning.

    Raises:
        OptionError: States are there and none loads (naming them): a run must not restart from 0 unsaid.

    Args:
        state_dir (str): An experiment's ``training_states`` folder.
        map_location (str | torch.device): Where the tensors go. Default: 'cpu'.

    Returns:
        tuple[str | None, dict | None]: The file and the state.
    """
    if not osp.isdir(state_dir):
        return None, None
    iters = sorted((int(name[:-len('.state')]) for name in os.listdir(state_dir)
                    if name.endswith('.state') and name[:-len('.state')].isdigit()), reverse=True)
    for current_iter in iters:
        path = osp.join(state_dir, f'{current_iter}.state')
        state = load_training_state(path, map_location)
        if state is not None:
            return path, state
        # not BasicSR's get_root_logger: the logger is not set up yet, and a first call would set it up without its
        # log file and INFO level
        logging.getLogger('basicsr').warning(f'Skipping unreadable training state {path}.')
    if iters:
        raise OptionError(f'--auto_resume: none of the training states in {state_dir} loads '
                         f'({", ".join(f"{current_iter}.state" for current_iter in iters)}: cut off or not training '
                         'states); move them away to start from iteration 0, or set path.resume_state.')
    return None, None


def get_rng_states():
    """The python, numpy and torch (CPU and CUDA) random states, as tensors and ints (loadable with weights_only).

    Returns:
        dict: The states, for :func:`set_rng_states`.
    """
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        'python': random.getstate(),
        'numpy': [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states):
    """Restore what :func:`get_rng_states` returned.

    Args:
        states (dict): The states.
    """
    random.setstate(states['python'])
    kind, keys, pos, has_gauss, cached_gaussian = states['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(states['torch'].cpu())
    if states['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in states['cuda']])


def seeded_rng_states(seed):
    """The random states :func:`get_rng_states` returns after seeding python, numpy and torch with ``seed`` (as
    BasicSR's ``set_random_seed``), leaving this process's states as they are.

    Args:
        seed (int): The seed, below 2**32.

    Returns:
        dict: The states, for :func:`set_rng_states`.
    """
    from basicsr.utils import set_random_seed
    current = get_rng_states()
    set_random_seed(seed)
    states = get_rng_states()
    set_rng_states(current)
    return states


def rank_rng_states(saved, rank, seed, current_iter):
    """The random states a rank continues with after a resume: its own from the training state's ``rng`` (one
    entry per rank; a single dict in states saved before each rank's were kept, which were rank 0's); a rank the saved
    run did not have gets new streams, seeded from (``seed``, ``rank``, ``current_iter``): neither another rank's nor
    those its seed gave at iteration 0.

    Args:
        saved (list[dict] | dict | None): The training state's ``rng``.
        rank (int): This process's rank.
        seed (int): The run's ``manual_seed``.
        current_iter (int): The iteration resumed from.

    Returns:
        dict | None: The states (:func:`set_rng_states`); None when the state has none.
    """
    if saved is None:
        return None
    saved = [saved] if isinstance(saved, dict) else saved
    if rank < len(saved):
        return saved[rank]
    return seeded_rng_states(int(np.random.SeedSequence([seed, rank, current_iter]).generate_state(1)[0]))


class ResumePosition(NamedTuple):
    """Where a resumed run stopped.

    Args:
        epoch (int): Its epoch.
        iter (int): Its last iteration.
        batch_size (int): Batch per process.
        rng (dict | None): Its random states (:func:`get_rng_states`), None for states saved without them.
    """

    epoch: int
    iter: int
    batch_size: int
    rng: dict | None


class ResumableSampler(EnlargedSampler):
    """BasicSR's ``EnlargedSampler`` whose first epoch after a resume continues where the saved run stopped.

    BasicSR's train loop draws the batches and gives the model no access to its sampler: a resuming model hands
    its position over with :meth:`resume_from` (a class attribute, used once). The iteration then skips the
    samples the saved run had consumed in that epoch and restores its random states.
    """

    pending = None
    epoch_in_progress = 0  # the epoch of the batches drawn now (a pre-empted run saves it)

    def set_epoch(self, epoch):
        """BasicSR's ``set_epoch``, also recorded as the epoch in progress."""
        super().set_epoch(epoch)
        ResumableSampler.epoch_in_progress = epoch

    @classmethod
    def resume_from(cls, position):
        """Make the next iteration of a train sampler continue at ``position``.

        Args:
            position (ResumePosition): Where the resumed run stopped.
        """
        cls.pending = position

    def __iter__(self):
        # a generator: this runs at the first batch, after the DataLoader drew its base seed from torch's generator,
        # so the restored random states draw the saved run's next batch
        indices = list(super().__iter__())
        position, ResumableSampler.pending = ResumableSampler.pending, None
        if position is not None:
            consumed = position.iter - position.epoch * (self.num_samples // position.batch_size)
            indices = indices[min(max(consumed, 0) * position.batch_size, len(indices)):]
            if position.rng is not None:
                set_rng_states(position.rng)
        yield from indices


def use_resumable_sampler():
    """Make BasicSR's train pipeline build its sampler as :class:`ResumableSampler` (the only change exact resume
    needs in BasicSR: the resumed epoch's batches are drawn in its loop). Without a resume it samples as before."""
    import basicsr.train
    basicsr.train.EnlargedSampler = ResumableSampler
