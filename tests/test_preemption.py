"""Pre-emption (srddgan_arch.utils.preemption) and what a resume finds: a stop signal saves the iteration's checkpoint
and exits with PREEMPTED_EXIT_CODE; --auto_resume refuses states that all fail to load and keeps BasicSR's logger
unset until BasicSR sets it up. The run under a real SIGTERM is in test_train_resume.py."""
import os
import signal
import subprocess
import sys

import basicsr.utils.logger
import pytest
import torch
from basicsr.models import build_model
from conftest import tiny_srddgan_options

from srddgan_arch.utils import preemption, training_state
from srddgan_arch.utils.training_state import ResumableSampler


@pytest.fixture
def no_signal_yet(monkeypatch):
    """This process has received no stop signal (and the test's own signals are forgotten after it)."""
    monkeypatch.setattr(preemption, '_received', [])


def test_stop_signal_saves_the_iteration_and_exits(tmp_path, monkeypatch, no_signal_yet):
    """Without a signal the step returns; after SIGTERM the model saves G (with its EMA and schedule), D and the
    training state of this iteration and epoch, then exits with PREEMPTED_EXIT_CODE."""
    model = build_model(tiny_srddgan_options(tmp_path))
    for folder in ('models', 'states'):
        os.makedirs(tmp_path / folder)
    monkeypatch.setattr(ResumableSampler, 'epoch_in_progress', 2)
    model.stop_if_preempted(7)
    assert os.listdir(tmp_path / 'models') == os.listdir(tmp_path / 'states') == []
    preemption._record(signal.SIGTERM, None)
    with pytest.raises(SystemExit) as exit_info:
        model.stop_if_preempted(7)
    assert exit_info.value.code == preemption.PREEMPTED_EXIT_CODE == 3
    assert sorted(os.listdir(tmp_path / 'models')) == ['net_d_7.pth', 'net_g_7.pth']
    net_g = torch.load(tmp_path / 'models' / 'net_g_7.pth', weights_only=True)
    assert {'params', 'params_ema', 'diffusion'} <= set(net_g)
    state = torch.load(tmp_path / 'states' / '7.state', weights_only=True)
    assert (state['epoch'], state['iter']) == (2, 7) and len(state['optimizers']) == 2


@pytest.mark.parametrize('name', ['SIGTERM', 'SIGUSR1'])
def test_handlers_record_sigterm_and_sigusr1(name, no_signal_yet):
    """The handlers record the signal instead of ending the process; the first one is the one named."""
    previous = {signum: signal.getsignal(signum) for signum in preemption.SIGNALS}
    try:
        preemption.install_handlers()
        os.kill(os.getpid(), getattr(signal, name))
        assert preemption.received_signal() == name and preemption.StopAgreement().stop_now()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_auto_resume_refuses_when_no_state_loads(tmp_path):
    """States that all fail to load are an error naming them, not a silent restart from iteration 0."""
    for name in ('4.state', '8.state'):
        (tmp_path / name).write_bytes(b'cut off')
    with pytest.raises(ValueError, match=r'none of the training states .* loads \(8\.state, 4\.state'):
        training_state.latest_resume_state(str(tmp_path))
    assert training_state.latest_resume_state(str(tmp_path / 'missing')) == (None, None)


def test_skipping_a_cut_off_state_leaves_basicsr_logger_unset(tmp_path, monkeypatch):
    """The warning about a skipped state does not set BasicSR's root logger up (a first get_root_logger call
    would, without the run's log file and INFO level: the resumed run then logged nothing)."""
    monkeypatch.setattr(basicsr.utils.logger, 'initialized_logger', {})
    training_state.atomic_torch_save({'iter': 5}, tmp_path / '5.state')
    (tmp_path / '10.state').write_bytes(b'cut off')
    path, state = training_state.latest_resume_state(str(tmp_path))
    assert state['iter'] == 5 and 'basicsr' not in basicsr.utils.logger.initialized_logger



# one gloo rank (argv[1]) of two over a file store (argv[2]); only rank 1 gets the signal, at iteration 2
AGREE = '''
import signal, sys
import srddgan_arch
import torch.distributed as dist
from srddgan_arch.utils import preemption
rank = int(sys.argv[1])
dist.init_process_group('gloo', init_method=f'file://{sys.argv[2]}', rank=rank, world_size=2)
agreement = preemption.StopAgreement()
for current_iter in range(1, 8):
    if rank == 1 and current_iter == 2:
        preemption._record(signal.SIGTERM, None)
    if agreement.stop_now():
        print(current_iter)
        break
'''


@pytest.mark.slow
def test_ranks_stop_at_the_same_iteration(tmp_path):
    """Two gloo ranks, a signal on rank 1 only: both stop at the same iteration, the one after the signal's (the
    agreement started in an iteration is read at the next, so no rank waits for the others within an iteration)."""
    ranks = [subprocess.Popen([sys.executable, '-c', AGREE, str(rank), str(tmp_path / 'store')],
                              stdout=subprocess.PIPE, text=True) for rank in (0, 1)]
    assert [process.communicate(timeout=120)[0].strip() for process in ranks] == ['3', '3']
