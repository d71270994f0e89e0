"""A Real-ESRGAN user's option files train SRDDGAN after four edits (``options/realesrgan_keys.py``): Real-ESRGAN's
keys are read where its files write them, with its meanings, or refused with what to write instead."""
import copy
import sys

import pytest
import torch
import yaml
from test_realesrgan_pipeline import write_hr

from srddgan_arch.data.batch_degradation import build_batch_degradation
from srddgan_arch.options import OptionError
from srddgan_arch.options.realesrgan_keys import adopt_realesrgan_keys
from srddgan_arch.options.runs import check_option_keys

DEGRADATION = {
    'resize_prob': [0.2, 0.7, 0.1], 'resize_range': [0.15, 1.5], 'gaussian_noise_prob': 0.5, 'noise_range': [1, 30],
    'poisson_scale_range': [0.05, 3], 'gray_noise_prob': 0.4, 'jpeg_range': [30, 95], 'second_blur_prob': 0.8,
    'resize_prob2': [0.3, 0.4, 0.3], 'resize_range2': [0.3, 1.2], 'gaussian_noise_prob2': 0.5,
    'noise_range2': [1, 25], 'poisson_scale_range2': [0.05, 2.5], 'gray_noise_prob2': 0.4, 'jpeg_range2': [30, 95],
    'gt_size': 256, 'queue_size': 180}
KERNELS = {
    'blur_kernel_size': 21, 'kernel_list': ['iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso',
                                            'plateau_aniso'],
    'kernel_prob': [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], 'sinc_prob': 0.1, 'blur_sigma': [0.2, 3],
    'betag_range': [0.5, 4], 'betap_range': [1, 2], 'blur_kernel_size2': 21,
    'kernel_list2': ['iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso'],
    'kernel_prob2': [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], 'sinc_prob2': 0.1, 'blur_sigma2': [0.2, 1.5],
    'betag_range2': [0.5, 4], 'betap_range2': [1, 2], 'final_sinc_prob': 0.8}
PERCEPTUAL = {'type': 'PerceptualLoss', 'layer_weights': {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1,
                                                          'conv4_4': 1, 'conv5_4': 1},
              'vgg_type': 'vgg19', 'use_input_norm': True, 'perceptual_weight': 1.0, 'style_weight': 0,
              'range_norm': False, 'criterion': 'l1'}
GAN = {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0, 'loss_weight': 0.1}


def realesrgan_file(kind, data_root):
    """The key set of Real-ESRGAN's options/train_realesrnet_x4plus.yml ('net') or train_realesrgan_x4plus.yml
    ('gan'), as the user has it, its paths pointed at the user's data (``data_root``) and weights (none: Real-ESRGAN's
    files start from RRDBNet weights, which SRDDGAN's U-Net does not take)."""
    usm = {'gt_usm': True} if kind == 'net' else {'l1_gt_usm': True, 'percep_gt_usm': True, 'gan_gt_usm': False}
    adam = {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.99]}
    opt = {
        'name': f'train_RealESR{kind.upper()}x4plus', 'model_type': f'RealESR{kind.upper()}Model', 'scale': 4,
        'num_gpu': 'auto', 'manual_seed': 0, **usm, **DEGRADATION,
        'datasets': {'train': {
            'name': 'DF2K+OST', 'type': 'RealESRGANDataset', 'dataroot_gt': str(data_root / 'HR'),
            'meta_info': str(data_root / 'meta_info.txt'), 'io_backend': {'type': 'disk'}, **KERNELS,
            'gt_size': 256, 'use_hflip': True, 'use_rot': False, 'use_shuffle': True, 'num_worker_per_gpu': 5,
            'batch_size_per_gpu': 12, 'dataset_enlarge_ratio': 1, 'prefetch_mode': None}},
        'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 23,
                      'num_grow_ch': 32},
        'path': {'pretrain_network_g': None, 'param_key_g': 'params_ema', 'strict_load_g': True,
                 'resume_state': None},
        'train': {'ema_decay': 0.999, 'optim_g': dict(adam), 'scheduler': {'type': 'MultiStepLR',
                                                                           'milestones': [1000000], 'gamma': 0.5},
                  'total_iter': 1000000, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 100, 'save_checkpoint_freq': 5000, 'use_tb_logger': True,
                   'wandb': {'project': None, 'resume_id': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }
    if kind == 'gan':
        opt['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 64, 'skip_connection': True}
        opt['train'].update(optim_d=dict(adam), perceptual_opt=copy.deepcopy(PERCEPTUAL), gan_opt=dict(GAN),
                            net_d_iters=1, net_d_init_iters=0)
    return opt


def four_edits(opt):
    """The user's four edits: model_type, network_g, network_d, and D's optimiser where the file has none."""
    opt['model_type'] = 'SRDDGANModel'
    opt['network_g'] = {'type': 'SRDDGANUNet', 'scale': 4, 'image_size': 256, 'num_feat': 8, 'ch_mult': [1, 2],
                        'num_res_blocks': 1, 'attn_resolutions': [], 'z_dim': 8, 'num_mapping_layers': 1,
                        'lr_encoder': True, 'encoder_num_feat': 8, 'encoder_num_block': 2, 'encoder_num_grow_ch': 4}
    opt['network_d'] = {'type': 'SRDDGANDiscriminator', 'num_feat': 8, 'image_size': 256, 't_emb_dim': 16}
    opt['train'].setdefault('optim_d', {'type': 'AdamW', 'lr': 1.6e-4, 'betas': [0.5, 0.9]})
    return opt


@pytest.mark.parametrize('kind', ['net', 'gan'])
def test_realesrgan_keys_land_in_srddgan_sections(tmp_path, kind):
    """The degradation keys go to realesrgan, gt_size to the training set, RealESRGANDataset to srddgan's copy,
    use_shuffle is dropped; perceptual_opt, gan_opt and net_d_iters become srddgan's train keys."""
    opt = adopt_realesrgan_keys(four_edits(realesrgan_file(kind, tmp_path)))
    check_option_keys(opt)
    assert opt['realesrgan']['queue_size'] == 180 and opt['realesrgan']['resize_range2'] == [0.3, 1.2]
    assert 'gt_size' not in opt and opt['datasets']['train']['gt_size'] == 256
    assert opt['datasets']['train']['type'] == 'SRDDGANRealESRGANDataset'
    assert 'use_shuffle' not in opt['datasets']['train']
    if kind == 'gan':
        assert opt['realesrgan'] | {'gan_gt_usm': False, 'l1_gt_usm': True, 'percep_gt_usm': True} == opt['realesrgan']
        train = opt['train']
        assert train['gan_weight'] == 0.1 and train['d_steps_per_g_step'] == 1
        assert 'gan_opt' not in train and 'net_d_init_iters' not in train and 'perceptual_opt' not in train
        assert train['content_style_opt'] == {
            'type': 'ContentStyleLoss', 'content_distance': 'l1', 'range_norm': True, 'content_weight': 1.0,
            'style_weight': 0, 'layer_weights': PERCEPTUAL['layer_weights'], 'vgg_type': 'vgg19',
            'use_input_norm': True}
    assert adopt_realesrgan_keys(copy.deepcopy(opt)) == opt  # twice changes nothing more


def test_top_level_gt_usm_was_unknown_and_is_read():
    """Real-ESRNet's top-level gt_usm (and the other degradation keys) pass the key checks of srddgan's models."""
    check_option_keys({'name': 'x', 'model_type': 'SRDDGANModel', 'num_gpu': 0, 'gt_usm': False, 'queue_size': 12,
                       'datasets': {}, 'network_g': {}, 'path': {}})


@pytest.mark.parametrize('train_change, message', [
    ({'net_d_init_iters': 100}, r'train\.net_d_init_iters = 100: .*set net_d_init_iters: 0 or remove it'),
    ({'gan_opt': dict(GAN, gan_type='lsgan')}, r"train\.gan_opt\.gan_type: 'lsgan': .*write train\.gan_weight"),
    ({'perceptual_opt': dict(PERCEPTUAL, criterion='fro')}, r"criterion: 'fro' has no .*write criterion: l1 or l2"),
    ({'perceptual_opt': dict(PERCEPTUAL, range_norm=True)}, r'range_norm: true .*write range_norm: false'),
    ({'perceptual_opt': dict(PERCEPTUAL, type='LPIPSLoss')}, r'write train\.content_style_opt with type: Content'),
    ({'gan_opt': GAN, 'gan_weight': 1.0}, r'gan_opt = 0\.1 and train\.gan_weight = 1\.0 disagree'),
])
def test_realesrgan_keys_without_a_counterpart_are_refused_saying_what_to_write(tmp_path, train_change, message):
    """One line naming the key and what to write instead."""
    opt = four_edits(realesrgan_file('gan', tmp_path))
    opt['train'].update(train_change)
    with pytest.raises(OptionError, match=message):
        adopt_realesrgan_keys(opt)


def test_criterion_l2_is_the_mean_squared_feature_distance(tmp_path):
    """criterion l2 maps onto content_distance mse (BasicSR's MSE of the features)."""
    opt = four_edits(realesrgan_file('gan', tmp_path))
    opt['train']['perceptual_opt']['criterion'] = 'l2'
    assert adopt_realesrgan_keys(opt)['train']['content_style_opt']['content_distance'] == 'mse'


def test_the_three_usm_flags_give_each_loss_its_target(tmp_path):
    """l1_gt_usm / percep_gt_usm / gan_gt_usm: the degraded batch carries the sharpened HR for the losses that ask
    for it and the plain HR for the others (Real-ESRGAN's RealESRGANModel), the LR degraded from the sharpened HR."""
    from basicsr.utils import USMSharp
    opt = adopt_realesrgan_keys(four_edits(realesrgan_file('gan', tmp_path)))
    opt['realesrgan'].update(queue_size=2, resize_range=[0.9, 1.1], resize_range2=[0.9, 1.1])
    opt['datasets']['train'].update(gt_size=96, batch_size_per_gpu=2)
    degrade = build_batch_degradation(opt, torch.device('cpu'))
    gt = torch.rand(2, 3, 96, 96)
    kernel = torch.zeros(2, 21, 21)
    kernel[:, 10, 10] = 1
    batch = degrade({'gt': gt.clone(), 'kernel1': kernel, 'kernel2': kernel, 'sinc_kernel': kernel})
    assert batch['lq'].shape == (2, 3, 24, 24)
    sharpened = USMSharp()(gt)
    order = [int(torch.argmin((gt - b[None]).abs().flatten(1).mean(1))) for b in batch['gt']]  # the crop keeps all
    torch.testing.assert_close(batch['gt'], gt[order])
    torch.testing.assert_close(batch['gt_pixel'], sharpened[order])
    torch.testing.assert_close(batch['gt_content_style'], sharpened[order])


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['net', 'gan'])
def test_realesrgan_files_with_four_edits_train_srddgan(tmp_path, kind, monkeypatch):
    """Real-ESRGAN's two training files, their own keys as they write them, with the four edits (tiny widths, tiny
    data, 64-px HR crops, batch 2, 3 iterations, no VGG download), train SRDDGAN on the CPU through srddgan-train's
    pipeline."""
    from basicsr.train import train_pipeline
    names = write_hr(tmp_path / 'data' / 'HR', [(400, 400), (400, 420)])
    (tmp_path / 'data' / 'meta_info.txt').write_text(''.join(f'{name}\n' for name in names))
    opt = four_edits(realesrgan_file(kind, tmp_path / 'data'))
    # gt_size where Real-ESRGAN's files write it (both places), and the networks' size with it: at 256 px the
    # generator's middle attention (128 x 128 positions) and VGG took most of the run
    opt['gt_size'] = opt['datasets']['train']['gt_size'] = opt['network_g']['image_size'] = 64
    opt['network_d']['image_size'] = 64
    opt['datasets']['train'].update(num_worker_per_gpu=0, batch_size_per_gpu=2)
    opt['train']['total_iter'] = 3
    if kind == 'gan':
        opt['train']['perceptual_opt']['pretrained'] = False  # tests stay offline: no VGG weights
    opt_path = tmp_path / f'train_realesr{kind}_x4plus.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(opt_path)])
    train_pipeline(str(tmp_path))
    models = tmp_path / 'experiments' / opt['name'] / 'models'
    assert (models / 'net_g_latest.pth').is_file() and (models / 'net_d_latest.pth').is_file()
    state = torch.load(models / 'net_g_latest.pth', weights_only=True)
    assert all(torch.isfinite(v).all() for v in state['params'].values())
