"""Pre-emption (srddgan_arch.utils.preemption) and what a resume finds: a stop signal saves the iteration's checkpoint
and exits with PREEMPTED_EXIT_CODE; --auto_resume refuses states that all fail to load and keeps BasicSR's logger
unset until BasicSR sets it up; the demo model under real signals to its whole process group, with loader workers,
during training and during validation. Exact continuation after a signal is in test_train_resume.py."""
import os
import re
import signal
import subprocess
import sys
import time
from os import path as osp

import basicsr.utils.logger
import pytest
import torch
import yaml
from basicsr.models import build_model
from conftest import tiny_srddgan_options, write_paired_images

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


def tiny_demo_options(name, data, val_freq):
    """The demo option file at 8 channels on 32x32 HR crops, with two data-loader workers, a run of 1000 iterations
    saving no periodic checkpoint, validating every ``val_freq`` iterations on ``data`` (with a progress bar)."""
    with open(osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'options', 'train_SRDDGAN_demo_x4.yml')) as f:
        opt = yaml.safe_load(f)
    hr_dir, lr_dir = data
    opt['name'] = name
    opt['datasets']['train'].update(dataroot_gt=hr_dir, dataroot_lq=lr_dir, gt_size=32, batch_size_per_gpu=2,
                                    num_worker_per_gpu=2, dataset_enlarge_ratio=1)
    opt['datasets']['val'].update(dataroot_gt=hr_dir, dataroot_lq=lr_dir)
    opt['network_g'].update(num_feat=8, image_size=32, ch_mult=[1, 2], z_dim=8, encoder_num_feat=8,
                            encoder_num_block=2, encoder_num_grow_ch=4)
    opt['network_d'].update(num_feat=8, image_size=32)
    opt['train']['total_iter'] = 1000
    opt['val'].update(val_freq=val_freq, pbar=True)
    opt['logger'].update(print_freq=1, save_checkpoint_freq=10**6)
    return opt


def signal_group(root, options, signal_name, when, extra=()):
    """Run train.py on ``options`` in a process group of its own, send ``signal_name`` to the whole group (the run and
    its data-loader workers, as SLURM, systemd and torchrun do) once its output matches ``when`` (None: never): (exit
    code, output, seconds from the signal to the run's exit or None)."""
    option_file = root / f'{options["name"]}.yml'
    option_file.write_text(yaml.safe_dump(options))
    process = subprocess.Popen([sys.executable, str(root / 'srddgan_arch' / 'train.py'), '-opt', str(option_file),
                                *extra], cwd=root, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               env=dict(os.environ, CUDA_VISIBLE_DEVICES=''), start_new_session=True)
    output, signalled = b'', None
    while chunk := os.read(process.stderr.fileno(), 65536):  # BasicSR logs, and tqdm draws, on stderr
        output += chunk
        if when is not None and signalled is None and re.search(when, output):
            os.killpg(process.pid, getattr(signal, signal_name))
            signalled = time.monotonic()
    code = process.wait(timeout=60)
    return code, output.decode(errors='replace'), None if signalled is None else time.monotonic() - signalled


@pytest.mark.slow
@pytest.mark.parametrize('signal_name', ['SIGTERM', 'SIGUSR1'])
def test_group_signal_during_training_with_loader_workers(run_root, signal_name):
    """A stop signal to the whole process group while training with two loader workers: the workers survive it, the
    run saves the iteration in progress and exits with 3 within 10 s."""
    options = tiny_demo_options('group_train', write_paired_images(str(run_root / 'data')), val_freq=10**6)
    code, output, seconds = signal_group(run_root, options, signal_name, rb'iter:\s+2,')
    assert code == preemption.PREEMPTED_EXIT_CODE and 'killed by signal' not in output, output[-3000:]
    stopped_at = int(re.search(r'saved the networks and training state of iteration (\d+)', output)[1])
    experiment = run_root / 'experiments' / 'group_train'
    assert os.listdir(experiment / 'training_states') == [f'{stopped_at}.state']
    assert f'net_g_{stopped_at}.pth' in os.listdir(experiment / 'models') and seconds < 10


@pytest.mark.slow
def test_group_signal_during_validation_is_saved_and_redone(run_root):
    """SIGTERM to the group during the validation of iteration 2: the validation stops at the next image, iteration
    2's checkpoint is saved, marked, within 10 s (exit 3); --auto_resume redoes that validation (every image's
    samples written for iteration 2) before iteration 3."""
    data = write_paired_images(str(run_root / 'data'), num_images=48)
    options = tiny_demo_options('group_val', data, val_freq=2)
    code, output, seconds = signal_group(run_root, options, 'SIGTERM', rb'iter:\s+2,.*\n(.|\n)*\d+/48')
    assert code == preemption.PREEMPTED_EXIT_CODE and 'validation was cut short' in output, output[-3000:]
    assert seconds < 10 and 'killed by signal' not in output
    experiment = run_root / 'experiments' / 'group_val'
    state = torch.load(experiment / 'training_states' / '2.state', weights_only=True)
    assert state['validation_interrupted'] and os.listdir(experiment / 'training_states') == ['2.state']
    assert len(list((experiment / 'visualization').glob('*/*_2_s0.png'))) < 48  # cut short

    options['train']['total_iter'] = 3
    code, output, _ = signal_group(run_root, options, 'SIGTERM', None, extra=['--auto_resume'])
    assert code == 0, output[-3000:]
    redo = output.index('Redoing the validation of iteration 2')
    assert redo < output.index('Validation demo_val') < re.search(r'iter:\s+3,', output).start()
    assert len(list((experiment / 'visualization').glob('*/*_2_s0.png'))) == 48
