"""End-to-end BasicSR runs through srddgan's entry points: torchrun on CPU, --auto_resume, exact continuation, test.py.

They train a tiny RRDBNet with SRBaselineModel (BasicSR's SRModel with srddgan's checkpoints and exact resume), so
they test the plugin foundation independently of SRDDGAN. Every run happens in an experiment root under pytest's
tmp_path (see ``conftest.link_package``).
"""
import os
import re
import signal
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import link_package, write_paired_images

from srddgan_arch.utils.training_state import latest_resume_state

pytestmark = pytest.mark.slow

# runs an entry script (argv[2:]) whose torch.save writes half a file and kills the process at call number argv[1]
KILL_WHILE_SAVING = '''
import io, os, runpy, signal, sys
import torch
kill_at, calls, save = int(sys.argv.pop(1)), [], torch.save

def save_then_die(obj, f, *args, **kwargs):
    calls.append(1)
    if len(calls) < kill_at:
        return save(obj, f, *args, **kwargs)
    buffer = io.BytesIO()
    save(obj, buffer)
    f.write(buffer.getvalue()[:buffer.tell() // 2])
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = save_then_die
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''
METRICS = {'psnr': {'type': 'calculate_psnr', 'crop_border': 4}, 'lr_psnr': {'type': 'calculate_lr_psnr'}}


def entry_script(root, name):
    """``srddgan_arch/<name>.py`` as linked into the experiment root ``root``."""
    return str(root / 'srddgan_arch' / f'{name}.py')


def sr_options(name, hr_dir, lr_dir, total_iter, save_freq):
    """A tiny SRBaselineModel/RRDBNet training configuration on CPU."""
    return {
        'name': name, 'model_type': 'SRBaselineModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 10,
        'datasets': {'train': {
            'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_gt': hr_dir, 'dataroot_lq': lr_dir,
            'io_backend': {'type': 'disk'}, 'gt_size': 16, 'use_hflip': True, 'use_rot': True,
            'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1}},
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1,
                      'num_grow_ch': 4},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'AdamW', 'lr': 1e-3, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
                  'total_iter': total_iter, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': save_freq, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }


def run(args, root, options, check=True):
    """Write ``options`` to a YAML file and run a command on it with the experiment root ``root`` as working
    directory."""
    option_file = root / f'{options["name"]}_{len(list(root.glob("*.yml")))}.yml'
    option_file.write_text(yaml.safe_dump(options))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    result = subprocess.run([*args, '-opt', str(option_file)], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f'{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


def logged_losses(root, name):
    """{iteration: 'l_pix' text} from the newest training log of experiment ``name`` under ``root``."""
    log_dir = root / 'experiments' / name
    logs = sorted(f for f in os.listdir(log_dir) if f.startswith('train_') and f.endswith('.log'))
    text = (log_dir / logs[-1]).read_text()
    return {int(i): loss for i, loss in re.findall(r'iter:\s*(\d+),.*?l_pix: (\S+)', text)}


def test_torchrun_cpu_trains_saves_and_auto_resumes(run_root, paired_data):
    """Two gloo processes train, save at iteration 4, and --auto_resume continues from there to iteration 6."""
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
                entry_script(run_root, 'train')]
    options = sr_options('torchrun', *paired_data, total_iter=4, save_freq=2)
    run([*torchrun, '--launcher', 'pytorch'], run_root, options)
    models = run_root / 'experiments' / 'torchrun' / 'models'
    assert {'net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth'} <= set(os.listdir(models))

    options['train']['total_iter'] = 6
    result = run([*torchrun, '--launcher', 'pytorch', '--auto_resume'], run_root, options)
    assert re.search(r'Resuming training from epoch: \d+, iter: 4\.', result.stdout + result.stderr)
    assert 'net_g_6.pth' in os.listdir(models)
    assert not [f for f in os.listdir(models) if '.tmp' in f]


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
    """One uninterrupted 6-iteration run saving at iteration 3: (options, experiment root, losses)."""
    root = link_package(tmp_path_factory.mktemp('full_run') / 'root')
    options = sr_options('full', *write_paired_images(str(root / 'data')), 6, 3)
    run([sys.executable, entry_script(root, 'train')], root, options)
    return options, root, logged_losses(root, options['name'])


def test_resume_continues_exactly(full_run):
    """Stopping mid-epoch at iteration 3 and resuming gives the losses of an uninterrupted run for iterations 4-6."""
    full_options, root, uninterrupted = full_run
    options = dict(full_options, name='stopped', train=dict(full_options['train'], total_iter=3))
    run([sys.executable, entry_script(root, 'train')], root, options)
    options['train']['total_iter'] = 6
    run([sys.executable, entry_script(root, 'train'), '--auto_resume'], root, options)
    resumed = logged_losses(root, 'stopped')
    assert sorted(resumed) == [4, 5, 6]
    assert resumed == {i: uninterrupted[i] for i in (4, 5, 6)}


@pytest.mark.parametrize('model_type, metrics', [('SRModel', ['psnr']), ('SRBaselineModel', ['psnr', 'lr_psnr'])])
def test_test_py_without_val_suffix(full_run, model_type, metrics):
    """test.py runs a test config without val.suffix (BasicSR's SRModel needs the compat fix) and writes the SR
    images; SRBaselineModel also scores LR-PSNR (it needs the LR image)."""
    train_options, root, _ = full_run
    model_path = root / 'experiments' / train_options['name'] / 'models' / 'net_g_latest.pth'
    data = train_options['datasets']['train']
    test_options = {
        'name': f'{train_options["name"]}_{model_type}', 'model_type': model_type, 'scale': 4, 'num_gpu': 0,
        'manual_seed': 0,
        'datasets': {'test_1': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_gt': data['dataroot_gt'],
                                'dataroot_lq': data['dataroot_lq'], 'io_backend': {'type': 'disk'}}},
        'network_g': train_options['network_g'],
        'path': {'pretrain_network_g': str(model_path), 'strict_load_g': True},
        'val': {'save_img': True, 'metrics': {name: METRICS[name] for name in metrics}},
    }
    result = run([sys.executable, entry_script(root, 'test')], root, test_options)
    output = result.stdout + result.stderr
    assert all(re.search(rf'# {name}: \d+\.\d+', output) for name in metrics)
    assert len(os.listdir(root / 'results' / test_options['name'] / 'visualization' / 'tiny')) == 8


def test_checkpoints_load_with_weights_only(full_run):
    """Model files and training states (with the random states of each rank) load with torch.load(weights_only=True)."""
    experiment = full_run[1] / 'experiments' / full_run[0]['name']
    state = torch.load(experiment / 'training_states' / '3.state', weights_only=True)
    assert state['iter'] == 3 and {'python', 'numpy', 'torch'} <= set(state['rng'][0])
    assert 'params' in torch.load(experiment / 'models' / 'net_g_3.pth', weights_only=True)
    assert not [f for f in os.listdir(experiment / 'models') if '.tmp' in f]


@pytest.mark.parametrize('kill_at, what', [(7, 'net_g_4.pth'), (8, '4.state')])
def test_killed_while_saving_then_auto_resume(run_root, paired_data, kill_at, what):
    """A run killed with SIGKILL in the middle of writing a checkpoint (each iteration saves net_g, then the
    training state: save number 7 is net_g_4.pth, 8 is 4.state) leaves only complete checkpoints, temporary files
    aside, and --auto_resume removes those, then continues from the newest complete training state (iteration 3)."""
    options = sr_options('killed', *paired_data, total_iter=10, save_freq=1)
    result = run([sys.executable, '-c', KILL_WHILE_SAVING, str(kill_at), entry_script(run_root, 'train')], run_root,
                 options, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    experiment = run_root / 'experiments' / 'killed'
    written = os.listdir(experiment / 'models') + os.listdir(experiment / 'training_states')
    assert [name for name in written if name.startswith(f'{what}.tmp')], written  # the save was cut off
    states = [f for f in os.listdir(experiment / 'training_states') if f.endswith('.state')]
    for name in states:
        assert torch.load(experiment / 'training_states' / name, weights_only=True)['iter'] == int(name[:-6])
    assert latest_resume_state(str(experiment / 'training_states'))[1]['iter'] == 3

    options['train']['total_iter'] = 5
    result = run([sys.executable, entry_script(run_root, 'train'), '--auto_resume'], run_root, options)
    assert re.search(r'Resuming training from epoch: \d+, iter: 3\.', result.stderr)
    assert (experiment / 'models' / 'net_g_5.pth').is_file()
    written = os.listdir(experiment / 'models') + os.listdir(experiment / 'training_states')
    assert not [name for name in written if '.tmp' in name], written  # the resumed run removed what the kill left


def signal_during_training(command, root, options, signal_name):
    """Start ``command`` on ``options`` (a long run saving no periodic checkpoint), send the signal once iteration 2
    is logged: (exit code, output, the iteration the run says it saved)."""
    option_file = root / f'{options["name"]}.yml'
    option_file.write_text(yaml.safe_dump(options))
    process = subprocess.Popen([*command, '-opt', str(option_file)], cwd=root, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, CUDA_VISIBLE_DEVICES=''))
    seen = []
    for line in process.stderr:  # BasicSR logs to stderr
        seen.append(line)
        if re.search(r'iter:\s+2,', line):
            process.send_signal(getattr(signal, signal_name))
            break
    output = ''.join(seen) + process.communicate(timeout=300)[1]
    saved = re.search(rf'{signal_name} received: saved the networks and training state of iteration (\d+)', output)
    return process.returncode, output, int(saved[1]) if saved else None


@pytest.mark.parametrize('signal_name', ['SIGTERM', 'SIGUSR1'])
def test_stop_signal_saves_and_auto_resume_continues_exactly(full_run, signal_name):
    """SIGTERM (a cluster pre-empting the job) or SIGUSR1 (SLURM's warning before the time limit) during training:
    the run saves the iteration in progress and exits with code 3, with no periodic checkpoint configured; then
    --auto_resume continues from that iteration with the losses of an uninterrupted run."""
    full_options, root, uninterrupted = full_run
    name = f'stopped_by_{signal_name.lower()}'
    options = dict(full_options, name=name, train=dict(full_options['train'], total_iter=1000),
                   logger=dict(full_options['logger'], save_checkpoint_freq=10**6))
    code, output, stopped_at = signal_during_training([sys.executable, entry_script(root, 'train')], root, options,
                                                      signal_name)
    assert code == 3 and stopped_at is not None, output[-3000:]
    experiment = root / 'experiments' / name
    assert os.listdir(experiment / 'training_states') == [f'{stopped_at}.state']
    assert f'net_g_{stopped_at}.pth' in os.listdir(experiment / 'models')
    assert 2 <= stopped_at < 6, output[-3000:]

    options['train']['total_iter'] = 6
    result = run([sys.executable, entry_script(root, 'train'), '--auto_resume'], root, options)
    assert re.search(rf'Resuming training from epoch: \d+, iter: {stopped_at}\.', result.stderr)
    resumed = logged_losses(root, name)
    assert resumed == {i: uninterrupted[i] for i in range(stopped_at + 1, 7)}


@pytest.mark.parametrize('launcher', ['loader_workers', 'torchrun'])
def test_stop_signal_with_loader_workers_and_under_torchrun(run_root, paired_data, launcher):
    """With two data-loader workers, and under torchrun with two gloo ranks (torchrun forwards SIGTERM to them),
    every process stops at the same iteration and one training state is written; --auto_resume continues."""
    options = sr_options(launcher, *paired_data, total_iter=1000, save_freq=10**6)
    command = [sys.executable, entry_script(run_root, 'train')]
    if launcher == 'loader_workers':
        options['datasets']['train']['num_worker_per_gpu'] = 2
    else:
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', command[1],
                   '--launcher', 'pytorch']
    code, output, stopped_at = signal_during_training(command, run_root, options, 'SIGTERM')
    # a run exits with 3; torchrun reports its workers' exit as its own failure, 1
    assert stopped_at is not None and code == (3 if launcher == 'loader_workers' else 1), output[-3000:]
    experiment = run_root / 'experiments' / launcher
    assert os.listdir(experiment / 'training_states') == [f'{stopped_at}.state']
    options['train']['total_iter'] = stopped_at + 2
    result = run([*command, '--auto_resume'], run_root, options)
    output = result.stdout + result.stderr
    assert re.search(rf'Resuming training from epoch: \d+, iter: {stopped_at}\.', output)
    assert re.search(rf'iter:\s+{stopped_at + 2},', output) and 'End of training' in output
