"""BasicSR's train pipeline with SRDDGANModel on CPU: a few iterations on tiny data, validation, saving, resuming."""
import glob
import io
import logging
import re
import subprocess
import sys
from os import path as osp

import numpy as np
import pytest
import torch
import yaml
from basicsr.train import train_pipeline
from conftest import tiny_pipeline_networks, write_paired_images

from srddgan_arch.options import OptionError

LOSS_KEYS = ('l_d_real', 'l_d_fake', 'l_d_r1', 'out_d_real', 'out_d_fake', 'l_g_adv', 'l_g_content', 'l_g_style',
             'l_g_pix')


def write_options(root, total_iter, alexnet_file):
    """A tiny SRDDGAN option file at root/opt.yml: 8-channel networks, T = 2, checkpoints and validation every 2."""
    def dataset(split):
        return {'name': split, 'type': 'PairedImageDataset', 'dataroot_gt': str(root / split / 'HR'),
                'dataroot_lq': str(root / split / 'LR'), 'io_backend': {'type': 'disk'}}

    opt = {
        'name': 'tiny_pipeline', 'model_type': 'SRDDGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'diffusion': {'num_timesteps': 2},
        'datasets': {
            'train': {**dataset('train'), 'gt_size': 32, 'use_hflip': True, 'use_rot': False,
                      'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1},
            'val': dataset('val')},
        **tiny_pipeline_networks(),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0.9, 'total_iter': total_iter,
                  'optim_g': {'type': 'AdamW', 'lr': 1.0e-4, 'betas': [0.5, 0.9]},
                  'optim_d': {'type': 'AdamW', 'lr': 1.6e-4, 'betas': [0.5, 0.9]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [3], 'gamma': 0.5},
                  'gan_weight': 1.0, 'r1_gamma': 1.0, 'lazy_reg': 1,
                  'content_style_opt': {'type': 'ContentStyleLoss', 'pretrained': False,
                                        'layer_weights': {'relu1_2': 1.0, 'relu2_2': 1.0}},
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
        'val': {'val_freq': 2, 'save_img': True, 'num_samples': 2, 'seed': 0,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0},
                            'ssim': {'type': 'calculate_ssim', 'crop_border': 0},
                            'lr_psnr': {'type': 'calculate_lr_psnr'},
                            'diversity': {'type': 'calculate_diversity', 'backbone_path': alexnet_file}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False},
    }
    path = root / 'opt.yml'
    path.write_text(yaml.safe_dump(opt))
    return path


def run_training(root, total_iter, alexnet_file, monkeypatch, *flags):
    """BasicSR's train_pipeline on ``write_options``' file with ``root`` as the experiment root; returns the log."""
    return run_pipeline(root, write_options(root, total_iter, alexnet_file), monkeypatch, *flags)


def run_pipeline(root, opt_path, monkeypatch, *flags):
    """BasicSR's train_pipeline on ``opt_path`` with ``root`` as the experiment root; returns what it logged.

    BasicSR's logger gets its log file and level only on its first use in a process: the test adds its own handler.
    """
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(opt_path), *flags])
    stream = io.StringIO()
    handler, logger = logging.StreamHandler(stream), logging.getLogger('basicsr')
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        train_pipeline(str(root))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return stream.getvalue()


@pytest.fixture
def tiny_root(tmp_path):
    write_paired_images(str(tmp_path / 'train'), num_images=4, seed=0)
    write_paired_images(str(tmp_path / 'val'), num_images=2, seed=1)
    return tmp_path


def logged_values(log_text, key):
    """The values logged for ``key``, without the validation's bicubic/IBP reference rows."""
    lines = [line for line in log_text.splitlines() if not line.lstrip().startswith(('# bicubic:', '# ibp:'))]
    return [float(v) for v in re.findall(rf'\b{key}: (\S+)', '\n'.join(lines))]


@pytest.mark.slow
def test_trains_validates_saves_and_resumes(tiny_root, alexnet_file, monkeypatch):
    """4 iterations log every loss term finite, validate PSNR/SSIM/LR-PSNR/diversity (two samples per LR image, an
    offline LPIPS backbone), save G/G-EMA/D/state; --auto_resume
    continues from iteration 4 to 6 with the saved optimiser and scheduler state."""
    log_text = run_training(tiny_root, 4, alexnet_file, monkeypatch)
    for key in LOSS_KEYS:
        values = logged_values(log_text, key)
        assert values and all(np.isfinite(values)), key
    for metric in ('psnr', 'ssim', 'lr_psnr', 'diversity'):
        values = logged_values(log_text, metric)
        assert values and np.isfinite(values).all(), metric
    assert min(logged_values(log_text, 'diversity')) > 0  # the two samples of an LR image differ
    models = tiny_root / 'experiments' / 'tiny_pipeline' / 'models'
    assert set(torch.load(models / 'net_g_4.pth', weights_only=True)) == {'params', 'params_ema', 'diffusion'}
    assert (models / 'net_d_4.pth').is_file()
    assert (tiny_root / 'experiments' / 'tiny_pipeline' / 'training_states' / '4.state').is_file()
    saved = glob.glob(str(tiny_root / 'experiments' / 'tiny_pipeline' / 'visualization' / '000' / '*.png'))
    assert sorted(osp.basename(p) for p in saved)[:2] == ['000_2_s0.png', '000_2_s1.png']

    log_text = run_training(tiny_root, 6, alexnet_file, monkeypatch, '--auto_resume')
    assert 'Resuming training from epoch' in log_text and 'iter: 4.' in log_text
    assert re.search(r'iter:\s+5, lr:\(5\.000e-05', log_text)  # the scheduler's milestone at 3 was restored
    assert (tiny_root / 'experiments' / 'tiny_pipeline' / 'training_states' / '6.state').is_file()


@pytest.mark.parametrize('section, key, value, message', [
    ('datasets.train', 'dataroot_gt', 'missing', r'datasets\.train\.dataroot_gt: data folder'),
    ('network_g', 'num_feats', 8, r'network_g\.num_feats is not an argument'),
    ('val.metrics.psnr', 'crop_bordr', 0, r'val\.metrics\.psnr\.crop_bordr is not an argument of calculate_psnr'),
    ('logger', 'save_checkpoint_frq', 2, r'Unknown option logger\.save_checkpoint_frq'),
    ('datasets.train', 'gt_size', 64, r'datasets\.train\.gt_size = 64 is larger than 4 of the 4 HR images'),
])
def test_option_mistakes_stop_the_pipeline_before_data_is_built(tiny_root, alexnet_file, monkeypatch, section, key,
                                                                value, message):
    """Data, model, metric and logger mistakes are reported by the option checks, naming the key, before BasicSR
    builds the data sets (or anything else)."""
    import basicsr.train
    monkeypatch.setattr(basicsr.train, 'build_dataset', lambda opt: pytest.fail('data built before the check'))
    opt_path = write_options(tiny_root, 2, alexnet_file)
    opt = yaml.safe_load(opt_path.read_text())
    target = opt
    for name in section.split('.'):
        target = target[name]
    target[key] = str(tiny_root / value) if value == 'missing' else value
    opt_path.write_text(yaml.safe_dump(opt))
    with pytest.raises(OptionError, match=message):
        run_pipeline(tiny_root, opt_path, monkeypatch)
    assert not (tiny_root / 'experiments').exists()


@pytest.mark.slow
def test_torchrun_ddp_two_processes(tiny_root, alexnet_file, run_root):
    """SRDDGANModel trains under torchrun with two gloo processes (DDP with R1's double backward and D frozen in the G
    step); train.total_batch 4 gives each process a batch of 2."""
    opt_path = write_options(tiny_root, 2, alexnet_file)
    opt = yaml.safe_load(opt_path.read_text())
    opt['name'] = 'torchrun'
    opt['train']['total_batch'] = 4
    del opt['datasets']['train']['batch_size_per_gpu']
    opt_path.write_text(yaml.safe_dump(opt))
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
         str(run_root / 'srddgan_arch' / 'train.py'), '-opt', str(opt_path), '--launcher', 'pytorch'],
        cwd=run_root, capture_output=True, text=True, timeout=300)
    log_text = result.stdout + result.stderr
    assert result.returncode == 0, log_text[-3000:]
    assert 'World size (gpu number): 2' in log_text and 'Batch size per gpu: 2' in log_text
    assert all(np.isfinite(logged_values(log_text, key)).all() and logged_values(log_text, key) for key in LOSS_KEYS)
    assert (run_root / 'experiments' / 'torchrun' / 'models' / 'net_g_2.pth').is_file()


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, alexnet_file, monkeypatch):
    """SRDDGANModel stopped mid-epoch at iteration 3 and resumed logs the losses of an uninterrupted run (t, z and
    the diffusion noise come from the restored random states; validation draws from its own seeded generator)."""
    def losses_per_iteration(root, total_iter, *flags):
        write_paired_images(str(root / 'train'), num_images=4, seed=0)
        write_paired_images(str(root / 'val'), num_images=2, seed=1)
        opt_path = write_options(root, total_iter, alexnet_file)
        opt = yaml.safe_load(opt_path.read_text())
        opt['logger']['save_checkpoint_freq'] = 3
        opt_path.write_text(yaml.safe_dump(opt))
        log_text = run_pipeline(root, opt_path, monkeypatch, *flags)
        return {int(i): losses for i, losses in re.findall(r'iter:\s+(\d+), lr:.*\] (.*l_g_adv.*)', log_text)}

    uninterrupted = losses_per_iteration(tmp_path / 'full', 6)
    losses_per_iteration(tmp_path / 'stopped', 3)
    resumed = losses_per_iteration(tmp_path / 'stopped', 6, '--auto_resume')
    assert sorted(resumed) == [4, 5, 6]
    assert resumed == {i: uninterrupted[i] for i in (4, 5, 6)}
