"""Pre-emption: SIGTERM (how clusters stop or pre-empt a job) and SIGUSR1 (what SLURM's ``--signal`` sends before the
time limit) make training save a complete checkpoint at the end of the iteration in progress and exit with
:data:`PREEMPTED_EXIT_CODE`, so that ``--auto_resume`` continues from that iteration.

The signal handler only records the signal: the model checks it after each optimisation step
(``TrainingMixin.stop_if_preempted``), where BasicSR's loop saves its own checkpoints, so the saved state is the one
a periodic save at that iteration would have written. A signal that arrives during validation cuts it short at the next
image: the iteration's checkpoint is saved (marked ``validation_interrupted``) and the resumed run redoes that
validation before its first iteration. Clusters signal the whole process group: the data-loader workers ignore both
signals (:func:`ignore_stop_signals`, installed by ``compat.py``) and the main process stops them itself once it has
saved. Under ``torchrun`` every rank stops at the same iteration: the ranks agree on the flag over a small CPU (gloo)
process group, asynchronously (no rank waits for the others in an iteration, and no device synchronisation).
"""
import signal

import torch
import torch.distributed as dist

# the exit code of a run stopped by one of SIGNALS after saving its checkpoint (requeue it with --auto_resume)
PREEMPTED_EXIT_CODE = 3
SIGNALS = tuple(getattr(signal, name) for name in ('SIGTERM', 'SIGUSR1') if hasattr(signal, name))

_received = []


def _record(signum, frame):
    _received.append(signal.Signals(signum).name)


def install_handlers():
    """Record SIGTERM and SIGUSR1 instead of dying at once (the train entry points call this before training)."""
    for signum in SIGNALS:
        signal.signal(signum, _record)


def ignore_stop_signals():
    """Ignore SIGTERM and SIGUSR1 in this process: a data-loader worker, which would die of a signal sent to the
    whole process group (PyTorch's workers take SIGTERM's default action) before the main process saved."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def received_signal():
    """The name of the first stop signal this process received ('SIGTERM', 'SIGUSR1'), or None."""
    return _received[0] if _received else None


class StopAgreement:
    """Whether training should stop now: a stop signal reached this process or, in a distributed run, any rank.

    Built by every rank at the same point (the model's construction): the process group it makes is collective. The
    ranks agree without waiting for each other: each iteration starts an all-reduce of this rank's flag on a CPU
    (gloo) group and reads the one started at the iteration before, which ran while the iteration computed. Every
    rank thus gets the same answer at the same iteration, one iteration after a signal.

    Args:
        timeout (datetime.timedelta | None): The group's timeout (``dist_params.timeout``). Default: gloo's.
    """

    def __init__(self, timeout=None):
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.group = dist.new_group(backend='gloo', timeout=timeout) if distributed else None
        self._flag = self._work = None

    def stop_now(self):
        """True when a stop signal arrived here or, under torchrun, on any rank by the previous call (the same answer
        on every rank)."""
        if self.group is None:
            return bool(_received)
        agreed = self.finish()
        if not agreed:
            self._flag = torch.tensor([int(bool(_received))])
            self._work = dist.all_reduce(self._flag, op=dist.ReduceOp.MAX, group=self.group, async_op=True)
        return agreed

    def finish(self):
        """Wait for the agreement in flight (a rank must not leave with it unfinished); True when it says stop."""
        if self._work is None:
            return False
        self._work.wait()
        self._work = None
        return bool(self._flag.item())
