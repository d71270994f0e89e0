"""End-to-end BasicSR runs through srddgan's entry points: torchrun on CPU, --auto_resume, exact continuation, test.py.

They use BasicSR's own SRModel with a tiny RRDBNet, so they test the plugin foundation independently of SRDDGAN.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from os import path as osp

import pytest
import torch
import yaml
from conftest import write_paired_images

from srddgan_arch import compat
from srddgan_arch.entry import project_root

TRAIN = osp.join(project_root(), 'srddgan_arch', 'train.py')
TEST = osp.join(project_root(), 'srddgan_arch', 'test.py')


def sr_options(name, hr_dir, lr_dir, total_iter, save_freq):
    """A tiny SRModel/RRDBNet training configuration on CPU."""
    return {
        'name': name, 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 10,
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


def run(args, tmp_path, options, check=True):
    """Write ``options`` to a YAML file and run a command on it from an unrelated working directory."""
    option_file = tmp_path / f'{options["name"]}_{len(list(tmp_path.glob("*.yml")))}.yml'
    option_file.write_text(yaml.safe_dump(options))
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    result = subprocess.run([*args, '-opt', str(option_file)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f'{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


def logged_losses(name):
    """{iteration: 'l_pix' text} from the newest training log of experiment ``name``."""
    log_dir = osp.join(project_root(), 'experiments', name)
    logs = sorted(f for f in os.listdir(log_dir) if f.startswith('train_') and f.endswith('.log'))
    text = open(osp.join(log_dir, logs[-1])).read()
    return {int(i): loss for i, loss in re.findall(r'iter:\s*(\d+),.*?l_pix: (\S+)', text)}


def test_torchrun_cpu_trains_saves_and_auto_resumes(tmp_path, paired_data, experiment_name):
    """Two gloo processes train, save at iteration 4, and --auto_resume continues from there to iteration 6."""
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', TRAIN]
    options = sr_options(experiment_name, *paired_data, total_iter=4, save_freq=2)
    run([*torchrun, '--launcher', 'pytorch'], tmp_path, options)
    models = osp.join(project_root(), 'experiments', experiment_name, 'models')
    assert {'net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth'} <= set(os.listdir(models))

    options['train']['total_iter'] = 6
    result = run([*torchrun, '--launcher', 'pytorch', '--auto_resume'], tmp_path, options)
    assert re.search(r'Resuming training from epoch: \d+, iter: 4\.', result.stdout + result.stderr)
    assert 'net_g_6.pth' in os.listdir(models)
    assert not [f for f in os.listdir(models) if '.tmp' in f]


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
    """One uninterrupted 6-iteration run saving at iteration 3: (options, tmp_path, losses); removed afterwards."""
    tmp_path = tmp_path_factory.mktemp('full_run')
    options = sr_options(f'pytest_full_{uuid.uuid4().hex[:8]}', *write_paired_images(str(tmp_path / 'data')), 6, 3)
    run([sys.executable, TRAIN], tmp_path, options)
    yield options, tmp_path, logged_losses(options['name'])
    for folder in ('experiments', 'results'):
        shutil.rmtree(osp.join(project_root(), folder, options['name']), ignore_errors=True)


def test_resume_continues_exactly(full_run, experiment_name):
    """Stopping mid-epoch at iteration 3 and resuming gives the losses of an uninterrupted run for iterations 4-6."""
    full_options, tmp_path, uninterrupted = full_run
    options = dict(full_options, name=experiment_name, train=dict(full_options['train'], total_iter=3))
    run([sys.executable, TRAIN], tmp_path, options)
    options['train']['total_iter'] = 6
    run([sys.executable, TRAIN, '--auto_resume'], tmp_path, options)
    resumed = logged_losses(experiment_name)
    assert sorted(resumed) == [4, 5, 6]
    assert resumed == {i: uninterrupted[i] for i in (4, 5, 6)}


def test_test_py_without_val_suffix(full_run):
    """test.py runs a BasicSR test config without val.suffix, writes the SR images and scores LR-PSNR (needs lq)."""
    train_options, tmp_path, _ = full_run
    model_path = osp.join(project_root(), 'experiments', train_options['name'], 'models', 'net_g_latest.pth')
    data = train_options['datasets']['train']
    test_options = {
        'name': train_options['name'], 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_gt': data['dataroot_gt'],
                                'dataroot_lq': data['dataroot_lq'], 'io_backend': {'type': 'disk'}}},
        'network_g': train_options['network_g'],
        'path': {'pretrain_network_g': model_path, 'strict_load_g': True},
        'val': {'save_img': True, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4},
                                              'lr_psnr': {'type': 'calculate_lr_psnr'}}},
    }
    result = run([sys.executable, TEST], tmp_path, test_options)
    output = result.stdout + result.stderr
    assert re.search(r'# psnr: \d+\.\d+', output) and re.search(r'# lr_psnr: \d+\.\d+', output)
    images = osp.join(project_root(), 'results', train_options['name'], 'visualization', 'tiny')
    assert len(os.listdir(images)) == 8


def test_checkpoints_load_with_weights_only(full_run):
    """Model files and training states (with their random states) load with torch.load(weights_only=True)."""
    root = osp.join(project_root(), 'experiments', full_run[0]['name'])
    state = torch.load(osp.join(root, 'training_states', '3.state'), weights_only=True)
    assert state['iter'] == 3 and {'python', 'numpy', 'torch'} <= set(state['rng'])
    assert 'params' in torch.load(osp.join(root, 'models', 'net_g_3.pth'), weights_only=True)
    assert not [f for f in os.listdir(osp.join(root, 'models')) if '.tmp' in f]


def test_kill_9_at_any_moment_then_auto_resume(tmp_path, paired_data, experiment_name):
    """A run killed with SIGKILL while it saves every iteration leaves only complete checkpoints (temporary files
    aside), and --auto_resume continues from the newest one to the end."""
    options = sr_options(experiment_name, *paired_data, total_iter=100000, save_freq=1)
    option_file = tmp_path / 'kill.yml'
    option_file.write_text(yaml.safe_dump(options))
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    process = subprocess.Popen([sys.executable, TRAIN, '-opt', str(option_file)], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_dir = osp.join(project_root(), 'experiments', experiment_name, 'training_states')
    deadline = time.monotonic() + 120
    while compat.latest_resume_state(state_dir)[0] is None or len(os.listdir(state_dir)) < 5:
        assert time.monotonic() < deadline and process.poll() is None, 'the run did not start saving'
        time.sleep(0.05)
    time.sleep(random.Random(0).uniform(0, 0.3))
    process.kill()
    process.wait()

    states = [f for f in os.listdir(state_dir) if f.endswith('.state')]
    for name in states:
        assert torch.load(osp.join(state_dir, name), weights_only=True)['iter'] == int(name[:-6])
    last = max(int(name[:-6]) for name in states)
    options['train']['total_iter'] = last + 2
    result = run([sys.executable, TRAIN, '--auto_resume'], tmp_path, options)
    assert 'Resuming training from epoch' in result.stderr and f'iter: {last}.' in result.stderr
    assert osp.isfile(osp.join(project_root(), 'experiments', experiment_name, 'models', f'net_g_{last + 2}.pth'))
