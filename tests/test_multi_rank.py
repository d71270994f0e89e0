"""SRDDGAN under torchrun with two gloo ranks, stopped by SIGTERM and resumed with --auto_resume: each rank continues
its own random streams (the ranks draw different t, noise and z, before and after the resume), the per-rank losses
equal those of an uninterrupted run, every checkpoint file is written once, by rank 0, and no rank leaves a save
before rank 0's files are complete."""
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from conftest import link_package, tiny_pipeline_networks, write_paired_images

pytestmark = pytest.mark.slow

# runs argv[1] (train.py) on the rest of the command line, recording per rank in ranks/<rank>.jsonl: each iteration's
# random state digest, t and local (not averaged) losses; each file written (rank 0 writes its training states a
# second late, so a rank that does not wait for it leaves first); each return from save_training_state
RECORD_RANKS = '''
import hashlib, json, os, runpy, sys, time
import srddgan_arch
import torch
from srddgan_arch.models.srddgan_model import SRDDGANModel
from srddgan_arch.models.training_mixin import TrainingMixin
from srddgan_arch.utils import training_state

rank = int(os.environ.get('RANK', 0))
os.makedirs('ranks', exist_ok=True)
log = open(f'ranks/{rank}.jsonl', 'a')

def record(**entry):
    log.write(json.dumps(dict(entry, rank=rank, time=time.time())) + '\\n')
    log.flush()

optimize, noisy_pair = SRDDGANModel.optimize_parameters, SRDDGANModel._noisy_pair

def optimize_parameters(self, current_iter):
    self._drawn_t = []
    digest = hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()
    try:
        optimize(self, current_iter)
    finally:  # (also when the iteration ends the run after a stop signal)
        losses = {k: float(v) for k, v in self.log_dict.items() if k.startswith(('l_', 'out_'))}
        record(event='iter', iter=current_iter, rng=digest, t=self._drawn_t, losses=losses)

def _noisy_pair(self, y0):
    t, y_prev, y_t = noisy_pair(self, y0)
    self._drawn_t.append(t.tolist())
    return t, y_prev, y_t

write, save_state = training_state.atomic_write, TrainingMixin.save_training_state

def atomic_write(path, *args, **kwargs):
    if path.endswith('.state'):
        time.sleep(1)
    write(path, *args, **kwargs)
    record(event='write', path=os.path.basename(path))

def save_training_state(self, epoch, current_iter):
    save_state(self, epoch, current_iter)
    record(event='left_save', iter=current_iter)

SRDDGANModel.optimize_parameters, SRDDGANModel._noisy_pair = optimize_parameters, _noisy_pair
training_state.atomic_write, TrainingMixin.save_training_state = atomic_write, save_training_state
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def two_rank_options(name, data, total_iter):
    """A tiny SRDDGAN run (8-channel networks, T = 2, pixel loss, R1 every step) of two gloo ranks with a batch of 2
    each on 8 images: two iterations per epoch; no periodic checkpoint, no validation."""
    hr_dir, lr_dir = data
    return {
        'name': name, 'model_type': 'SRDDGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'diffusion': {'num_timesteps': 2},
        'datasets': {'train': {
            'name': 'train', 'type': 'PairedImageDataset', 'dataroot_gt': hr_dir, 'dataroot_lq': lr_dir,
            'io_backend': {'type': 'disk'}, 'gt_size': 32, 'use_hflip': True, 'use_rot': False,
            'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1}},
        **tiny_pipeline_networks(),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0.9, 'total_iter': total_iter,
                  'optim_g': {'type': 'AdamW', 'lr': 1.0e-4, 'betas': [0.5, 0.9]},
                  'optim_d': {'type': 'AdamW', 'lr': 1.6e-4, 'betas': [0.5, 0.9]},
                  'gan_weight': 1.0, 'r1_gamma': 1.0, 'lazy_reg': 1, 'pixel_opt': {'type': 'L1Loss'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 10**6, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'timeout': 300},
    }


def torchrun(root, options, *flags):
    """Popen of the two-rank run of ``options`` through RECORD_RANKS, with the experiment root as working folder."""
    option_file = root / f'{options["name"]}_{len(list(root.glob("*.yml")))}.yml'
    option_file.write_text(yaml.safe_dump(options))
    recorder = root / 'record_ranks.py'
    recorder.write_text(RECORD_RANKS)
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', str(recorder),
               str(root / 'srddgan_arch' / 'train.py'), '-opt', str(option_file), '--launcher', 'pytorch', *flags]
    return subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, CUDA_VISIBLE_DEVICES=''))


def records(root, event):
    """The RECORD_RANKS entries of ``event`` of both ranks, in the order they were written."""
    entries = [json.loads(line) for rank in (0, 1) for line in (root / 'ranks' / f'{rank}.jsonl').open()]
    return sorted((e for e in entries if e['event'] == event), key=lambda e: e['time'])


def per_rank_iterations(root):
    """{(rank, iteration): (random state digest, t drawn, local losses)} of the recorded iterations."""
    return {(e['rank'], e['iter']): (e['rng'], e['t'], e['losses']) for e in records(root, 'iter')}


def test_two_ranks_stopped_and_resumed_continue_exactly(tmp_path):
    """Two gloo ranks: an uninterrupted 8-iteration run, and a run stopped by SIGTERM then resumed to 8. After the
    resume each rank's random state, t and losses equal the uninterrupted run's at every iteration; the two ranks
    draw differently; every network file and training state is written once, by rank 0, and rank 1 leaves each save
    after rank 0's files are complete."""
    data = write_paired_images(str(tmp_path / 'data'))
    full_root, stopped_root = link_package(tmp_path / 'full'), link_package(tmp_path / 'stopped')
    process = torchrun(full_root, two_rank_options('full', data, 8))
    output = process.communicate(timeout=300)[1]
    assert process.returncode == 0, output[-3000:]
    uninterrupted = per_rank_iterations(full_root)
    assert sorted(uninterrupted) == [(rank, i) for rank in (0, 1) for i in range(1, 9)]

    options = two_rank_options('stopped', data, 1000)
    process = torchrun(stopped_root, options)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if re.search(r'iter:\s+2,', line):
            process.send_signal(signal.SIGTERM)
            break
    output = ''.join(seen) + process.communicate(timeout=300)[1]
    saved = re.search(r'SIGTERM received: saved the networks and training state of iteration (\d+)', output)
    assert saved and process.returncode != 0, output[-3000:]
    stopped_at = int(saved[1])
    assert 2 < stopped_at < 8, output[-3000:]
    options['train']['total_iter'] = 8
    process = torchrun(stopped_root, options, '--auto_resume')
    output = process.communicate(timeout=300)[1]
    assert process.returncode == 0 and f'iter: {stopped_at}.' in output, output[-3000:]

    resumed = per_rank_iterations(stopped_root)  # (the resumed run's entries replace the stopped run's)
    for rank in (0, 1):
        for i in range(1, 9):
            assert resumed[rank, i] == uninterrupted[rank, i], (rank, i, stopped_at)
    assert all(resumed[0, i][0] != resumed[1, i][0] for i in range(1, 9))  # each rank its own stream
    assert any(resumed[0, i][1] != resumed[1, i][1] for i in range(stopped_at + 1, 9))

    writes = records(stopped_root, 'write')
    assert Counter(e['path'] for e in writes) == Counter(
        [f'net_g_{stopped_at}.pth', f'net_d_{stopped_at}.pth', f'{stopped_at}.state', 'net_g_latest.pth',
         'net_d_latest.pth'])
    assert {e['rank'] for e in writes} == {0}
    lefts = records(stopped_root, 'left_save')
    assert sorted((e['rank'], e['iter']) for e in lefts) == [(0, -1), (0, stopped_at), (1, -1), (1, stopped_at)]
    for left in lefts:  # (the last file of a save: its training state, or at the end net_d_latest.pth)
        last = f'{left["iter"]}.state' if left['iter'] != -1 else 'net_d_latest.pth'
        assert left['time'] >= next(e['time'] for e in writes if e['path'] == last), left
