"""scripts/loss_scales.py: the terms of Eq. 22 at initialisation, their gradient norms and where batch and VGG come
from."""
import math
from os import path as osp

import pytest
import torch
import yaml
from conftest import load_script

from srddgan_arch.losses.vgg_features import VGGFeatures

OPTIONS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'options')


def tiny_options(tmp_path, data_root):
    """A tiny train option file (32-px HR, x4) with content/style and L1 pixel losses, data under ``data_root``."""
    opt = {'name': 'tiny', 'model_type': 'SRDDGANModel', 'scale': 4, 'diffusion': {'num_timesteps': 2},
           'datasets': {'train': {'name': 'train', 'type': 'PairedImageDataset', 'gt_size': 32, 'use_hflip': False,
                                  'use_rot': False, 'batch_size_per_gpu': 3, 'num_worker_per_gpu': 0,
                                  'io_backend': {'type': 'disk'},
                                  'dataroot_gt': f'{data_root}/HR', 'dataroot_lq': f'{data_root}/LR'}},
           'network_g': {'type': 'SRDDGANUNet', 'scale': 4, 'image_size': 32, 'num_feat': 8, 'ch_mult': [1, 2],
                         'num_res_blocks': 1, 'attn_resolutions': [], 'z_dim': 8, 'encoder_num_feat': 8,
                         'encoder_num_block': 2, 'encoder_num_grow_ch': 4},
           'network_d': {'type': 'SRDDGANDiscriminator', 'num_feat': 8, 'image_size': 32, 't_emb_dim': 16},
           'train': {'total_iter': 10, 'optim_g': {'type': 'AdamW', 'lr': 1.0e-4},
                     'optim_d': {'type': 'AdamW', 'lr': 1.0e-4},
                     'content_style_opt': {'type': 'ContentStyleLoss', 'layer_weights': {'relu1_2': 1.0}},
                     'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}}}
    path = tmp_path / 'tiny.yml'
    path.write_text(yaml.safe_dump(opt))
    return str(path)


def printed_rows(out):
    """term -> (value, gradient norm) of the printed table."""
    rows = [line.split('|')[1:-1] for line in out.splitlines() if line.startswith('| l_g_')]
    return {cells[0].strip(): (float(cells[2]), float(cells[3])) for cells in rows}


def test_synthetic_batch_and_random_vgg_are_announced(tmp_path, monkeypatch, capsys):
    """Without the data folders and the VGG weights (offline, empty cache) the script says it uses photograph crops
    and random VGG weights; it prints every term, the L1 term's gradient norm is 1 / sqrt(number of pixels) (its
    gradient is sign / N), and the last line is the smallest over the largest gradient norm."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    ratio = load_script('loss_scales').main(['-opt', tiny_options(tmp_path, tmp_path / 'absent')])
    out = capsys.readouterr().out
    assert 'data: SYNTHETIC, 3 random 32x32 crops' in out and 'absent/HR does not exist' in out
    assert 'VGG weights: RANDOM' in out and 'vgg19-dcbb9e9d.pth not found' in out
    rows = printed_rows(out)
    assert list(rows) == ['l_g_adv', 'l_g_content', 'l_g_style', 'l_g_pix']
    assert rows['l_g_pix'][1] == pytest.approx(1 / math.sqrt(3 * 3 * 32 * 32), rel=5e-3)  # 3 digits printed
    norms = [norm for _, norm in rows.values()]
    assert ratio == pytest.approx(min(norms) / max(norms), rel=1e-2)
    assert out.strip().splitlines()[-1] == f'weakest_over_strongest: {ratio:.3g}'


def test_training_data_and_given_vgg_weights(tmp_path, paired_data, capsys):
    """With the data folders the batch comes from the training set; --vgg_path is used (a missing one is an error,
    never replaced by random weights)."""
    vgg_path = tmp_path / 'vgg19.pth'
    torch.save({f'features.{k}': v for k, v in VGGFeatures(['relu1_2']).body.state_dict().items()}, vgg_path)
    script, opt_path = load_script('loss_scales'), tiny_options(tmp_path, tmp_path / 'data')
    script.main(['-opt', opt_path, '--vgg_path', str(vgg_path), '--batch', '2'])
    out = capsys.readouterr().out
    assert 'data: 2 items of datasets.train' in out and f'VGG weights: {vgg_path}' in out
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        script.main(['-opt', opt_path, '--vgg_path', str(tmp_path / 'missing.pth')])


@pytest.mark.slow
def test_paper_defaults_train_every_term(tmp_path, monkeypatch):
    """The CIFAR-10 paper configuration (its networks, T and loss settings, random VGG-19): no term of Eq. 22 gives
    G a gradient below 1/100 of the strongest's."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    ratio = load_script('loss_scales').main(['-opt', osp.join(OPTIONS, 'train_SRDDGAN_CIFAR10_x2.yml'),
                                             '--batch', '8'])
    assert ratio >= 0.01
