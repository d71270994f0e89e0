"""SRDDGANModel (Algorithm 1 step, sampling, validation, checkpoints, non-finite steps) and its option checks."""
import copy
import glob
import math
from os import path as osp

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.models import build_model
from basicsr.utils.registry import METRIC_REGISTRY

from srddgan_arch.models.options_check import OptionError, check_options, check_run_options, resolve_total_batch

LOSS_KEYS = ('l_d_real', 'l_d_fake', 'l_d_r1', 'out_d_real', 'out_d_fake', 'l_g_adv', 'l_g_content', 'l_g_style',
             'l_g_pix')


@METRIC_REGISTRY.register()
def calculate_sample_spread(samples, img2, **kwargs):
    """Test set metric: mean absolute difference between the first two samples."""
    return float(np.abs(samples[0].astype(float) - samples[-1].astype(float)).mean())


def tiny_opt(tmp_path, is_train=True):
    """Options as BasicSR's parse_options returns them, with 8-channel networks for 32x32 HR / 8x8 LR images."""
    opt = {
        'name': 'tiny', 'model_type': 'SRDDGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'is_train': is_train, 'dist': False, 'rank': 0, 'world_size': 1,
        'diffusion': {'num_timesteps': 2},
        'datasets': {'train': {'name': 'train', 'type': 'PairedImageDataset', 'gt_size': 32,
                               'dataroot_gt': str(tmp_path), 'dataroot_lq': str(tmp_path),
                               'io_backend': {'type': 'disk'}}},
        'network_g': {'type': 'SRDDGANUNet', 'scale': 4, 'image_size': 32, 'num_feat': 8, 'ch_mult': [1, 2],
                      'num_res_blocks': 1, 'attn_resolutions': [], 'z_dim': 8, 'num_mapping_layers': 1,
                      'lr_encoder': True, 'encoder_num_feat': 8, 'encoder_num_block': 2, 'encoder_num_grow_ch': 4},
        'network_d': {'type': 'SRDDGANDiscriminator', 'num_feat': 8, 'image_size': 32, 't_emb_dim': 16},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'models': str(tmp_path / 'models'), 'training_states': str(tmp_path / 'states'),
                 'visualization': str(tmp_path / 'visualization')},
        'train': {'ema_decay': 0.9, 'total_iter': 10,
                  'optim_g': {'type': 'AdamW', 'lr': 1.0e-4, 'betas': [0.5, 0.9]},
                  'optim_d': {'type': 'AdamW', 'lr': 1.6e-4, 'betas': [0.5, 0.9]},
                  'gan_weight': 1.0, 'r1_gamma': 1.0, 'lazy_reg': 1, 'max_nonfinite_steps': 3,
                  'content_style_opt': {'type': 'ContentStyleLoss', 'pretrained': False,
                                        'layer_weights': {'relu1_2': 1.0, 'relu2_2': 1.0}},
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
        'val': {'num_samples': 2, 'seed': 3, 'save_img': True,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0},
                            'spread': {'type': 'calculate_sample_spread'}}},
    }
    return opt if is_train else {k: v for k, v in opt.items() if k not in ('train', 'network_d')}


def random_batch(batch=2, seed=0):
    """LR (B, 3, 8, 8) and HR (B, 3, 32, 32) tensors in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    lq = torch.rand(batch, 3, 8, 8, generator=generator)
    return {'lq': lq, 'gt': torch.rand(batch, 3, 32, 32, generator=generator)}


def test_optimize_parameters_logs_every_term_and_updates_both_networks(tmp_path):
    """One Algorithm 1 iteration logs every loss term finite and changes G, D and the EMA copy."""
    model = build_model(tiny_opt(tmp_path))
    before = {name: copy.deepcopy(net.state_dict()) for name, net in (('g', model.net_g), ('d', model.net_d))}
    ema_before = copy.deepcopy(model.net_g_ema.state_dict())
    model.feed_data(random_batch())
    model.optimize_parameters(1)
    log = model.get_current_log()
    assert set(LOSS_KEYS) <= set(log) and all(math.isfinite(log[k]) for k in LOSS_KEYS)
    assert log['nonfinite_skipped'] == 0
    for name, net in (('g', model.net_g), ('d', model.net_d)):
        assert any(not torch.equal(v, before[name][k]) for k, v in net.state_dict().items())
    assert any(not torch.equal(v, ema_before[k]) for k, v in model.net_g_ema.state_dict().items())


def test_r1_penalty_by_hand(tmp_path):
    """R1 = r1_gamma / 2 * mean over images of ||grad_y D||^2; for D(y) = sum(w * y) the gradient is w."""
    model = build_model(tiny_opt(tmp_path))
    weights = torch.randn(1, 3, 4, 4)
    y_prev = torch.randn(2, 3, 4, 4, requires_grad=True)
    d_real = (weights * y_prev).flatten(1).sum(1)
    expected = model.r1_gamma / 2 * weights.pow(2).sum()
    assert torch.allclose(model._r1_penalty(d_real, y_prev), expected)


def test_ema_follows_the_generator_by_the_decay(tmp_path):
    """After a G update, every EMA parameter is decay * previous EMA + (1 - decay) * the new G parameter."""
    model = build_model(tiny_opt(tmp_path))
    ema_before = copy.deepcopy(model.net_g_ema.state_dict())
    model.feed_data(random_batch())
    model.optimize_parameters(1)
    decay = model.ema_decay
    for name, param in model.net_g.named_parameters():
        expected = decay * ema_before[name] + (1 - decay) * param.detach()
        assert torch.allclose(model.net_g_ema.state_dict()[name], expected, atol=1e-6), name


def test_d_steps_per_g_step_skips_generator_updates(tmp_path):
    """With d_steps_per_g_step = 2, G is updated on even iterations only."""
    opt = tiny_opt(tmp_path)
    opt['train'].update(d_steps_per_g_step=2, content_style_opt=None)
    model = build_model(opt)
    model.feed_data(random_batch())
    g_before = copy.deepcopy(model.net_g.state_dict())
    model.optimize_parameters(1)
    assert all(torch.equal(v, g_before[k]) for k, v in model.net_g.state_dict().items())
    model.optimize_parameters(2)
    assert any(not torch.equal(v, g_before[k]) for k, v in model.net_g.state_dict().items())


def test_nonfinite_steps_are_skipped_then_training_stops(tmp_path):
    """A NaN batch skips the update (weights unchanged, counted); max_nonfinite_steps in a row raise RuntimeError."""
    opt = tiny_opt(tmp_path)
    opt['train']['content_style_opt'] = None
    model = build_model(opt)
    batch = random_batch()
    batch['gt'][0, 0, 0, 0] = float('nan')
    model.feed_data(batch)
    g_before, d_before = copy.deepcopy(model.net_g.state_dict()), copy.deepcopy(model.net_d.state_dict())
    for current_iter in (1, 2):
        model.optimize_parameters(current_iter)
    assert model.get_current_log()['nonfinite_skipped'] == 2
    assert all(torch.equal(v, g_before[k]) for k, v in model.net_g.state_dict().items())
    assert all(torch.equal(v, d_before[k]) for k, v in model.net_d.state_dict().items())
    with pytest.raises(RuntimeError, match='max_nonfinite_steps'):
        model.optimize_parameters(3)


def test_finite_step_resets_the_nonfinite_streak(tmp_path):
    """A good iteration between bad ones restarts the count towards max_nonfinite_steps."""
    opt = tiny_opt(tmp_path)
    opt['train']['content_style_opt'] = None
    model = build_model(opt)
    bad = random_batch()
    bad['gt'][:] = float('nan')
    for current_iter, batch in enumerate([bad, bad, random_batch(), bad, bad], start=1):
        model.feed_data(batch)
        model.optimize_parameters(current_iter)
    assert model.get_current_log()['nonfinite_skipped'] == 4


def test_test_is_deterministic_for_a_seed(tmp_path):
    """Same val.seed -> identical samples; another seed -> other samples; num_samples SR images of HR size."""
    model = build_model(tiny_opt(tmp_path, is_train=False))
    model.feed_data(random_batch(batch=1))
    model.test()
    first = [s.clone() for s in model.samples]
    model.test()
    assert len(first) == 2 and first[0].shape == (1, 3, 32, 32)
    assert all(torch.equal(a, b) for a, b in zip(first, model.samples, strict=True))
    assert not torch.equal(first[0], first[1])
    model.opt['val']['seed'] = 4
    model.test()
    assert not torch.equal(first[0], model.samples[0])
    assert 0 <= float(model.output.min()) and float(model.output.max()) <= 1


def test_validation_averages_sample_metrics_and_runs_set_metrics(tmp_path):
    """Per-sample PSNR is the mean over the samples; the set metric sees all samples; images are saved."""
    opt = tiny_opt(tmp_path, is_train=False)
    model = build_model(opt)
    batch = random_batch(batch=1)
    dataset = [dict(batch, lq_path=['img_a.png'])]
    loader = type('Loader', (list, ), {})(dataset)
    loader.dataset = type('Dataset', (), {'opt': {'name': 'tiny_val'}})()
    model.validation(loader, current_iter=0, tb_logger=None, save_img=True)
    model.feed_data(batch)
    model.test()
    from basicsr.metrics import calculate_psnr
    from basicsr.utils import tensor2img
    gt = tensor2img(batch['gt'])
    expected = np.mean([calculate_psnr(tensor2img(s), gt, crop_border=0) for s in model.samples])
    assert model.metric_results['psnr'] == pytest.approx(expected)
    assert model.metric_results['spread'] > 0
    saved = sorted(p.name for p in (tmp_path / 'visualization' / 'tiny_val').iterdir())
    assert saved == ['img_a_tiny_s0.png', 'img_a_tiny_s1.png']
    assert cv2.imread(str(tmp_path / 'visualization' / 'tiny_val' / saved[0])).shape == (32, 32, 3)


def test_save_stores_g_ema_d_and_training_state(tmp_path):
    """save() writes net_g (params + params_ema), net_d and a state with both optimisers and the iteration."""
    model = build_model(tiny_opt(tmp_path))
    (tmp_path / 'models').mkdir()
    (tmp_path / 'states').mkdir()
    model.save(epoch=0, current_iter=5)
    net_g = torch.load(tmp_path / 'models' / 'net_g_5.pth', weights_only=True)
    assert set(net_g) == {'params', 'params_ema'}
    assert set(torch.load(tmp_path / 'models' / 'net_d_5.pth', weights_only=True)) == {'params'}
    state = torch.load(tmp_path / 'states' / '5.state', weights_only=False)
    assert state['iter'] == 5 and len(state['optimizers']) == 2


@pytest.fixture
def lpips_backbone_in_cache(tmp_path, monkeypatch):
    """An (empty) AlexNet file in a temporary torchvision cache: the checks only look for the file."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    checkpoints = tmp_path / 'torch' / 'hub' / 'checkpoints'
    checkpoints.mkdir(parents=True)
    (checkpoints / 'alexnet-owt-7be5be79.pth').write_bytes(b'')


def test_paper_option_files_pass_the_checks(lpips_backbone_in_cache):
    """Every option file in options/ names known keys (data folders aside, which do not exist here)."""
    paths = sorted(glob.glob(osp.join(osp.dirname(__file__), '..', 'options', '*SRDDGAN*.yml')))
    assert len(paths) >= 7
    for path in paths:
        with open(path) as f:
            opt = yaml.safe_load(f)
        opt['is_train'] = 'train' in opt and 'network_d' in opt
        opt['datasets'] = {k: {**v, 'dataroot_gt': None, 'dataroot_lq': None, 'meta_info_file': None}
                           for k, v in opt['datasets'].items()}
        check_options(opt)


def _set(opt, dotted, value):
    *parents, last = dotted.split('.')
    for key in parents:
        opt = opt[key]
    opt[last] = value


@pytest.mark.parametrize('dotted, value, message', [
    ('network_g.num_feats', 8, r'network_g\.num_feats .*Did you mean .num_feat.'),
    ('network_d.lr_cnd', True, r'network_d\.lr_cnd'),
    ('network_g.type', 'SRDDGANUnet', r'network_g\.type.*Did you mean .SRDDGANUNet.'),
    ('network_g.num_res_blocks', '2', r'network_g\.num_res_blocks must be like its default'),
    ('diffusion.num_timestep', 4, r'diffusion\.num_timestep .*Did you mean .num_timesteps.'),
    ('diffusion.num_timesteps', 0, r'diffusion\.num_timesteps must be an int >= 1'),
    ('train.ema_decy', 0.999, r'Unknown option train\.ema_decy\. Did you mean .ema_decay.'),
    ('train.optim_g.lr', '1e-4', r'train\.optim_g\.lr must be a number.*1\.0e-4'),
    ('train.optim_d.beta', [0.5, 0.9], r'train\.optim_d\.beta .*Did you mean .betas.'),
    ('train.lazy_reg', 0, r'train\.lazy_reg must be a positive int'),
    ('train.use_amp', 'yes', r'train\.use_amp must be true or false'),
    ('train.pixel_opt.loss_weigth', 1.0, r'train\.pixel_opt\.loss_weigth'),
    ('network_g.ch_mult', [1] * 7, r'datasets\.train\.gt_size = 32 must be divisible by 64'),
    ('datasets.train.gt_size', 30, r'datasets\.train\.gt_size = 30 is not divisible by scale 4'),
    ('scale', 2, r'scale is 2 but network_g\.scale is 4'),
    ('datasets.train.dataroot_gt', '/no/such/folder', r'datasets\.train\.dataroot_gt: data folder /no/such/folder'),
    ('val.num_sample', 2, r'Unknown option val\.num_sample\. Did you mean .num_samples.'),
    ('val.metrics.psnr.type', 'calculate_psnrr', r'val\.metrics\.psnr\.type'),
    ('train.lazy_reg', None, r'train\.lazy_reg must be a positive int, got null'),
    ('val.metrics.lpips', {'type': 'calculate_lpips', 'backbone_path': '/no/alexnet.pth'},
     r'val\.metrics\.lpips: .*alexnet.pth'),
    ('network_g.freeze_encoder', True, r'network_g\.freeze_encoder is true but no weights reach the encoder'),
])
def test_option_mistakes_raise_one_clear_error(tmp_path, dotted, value, message):
    """Each misspelt key, wrong type or inconsistent size raises an OptionError (a ValueError) naming the key."""
    opt = tiny_opt(tmp_path)
    _set(opt, dotted, value)
    with pytest.raises(ValueError, match=message):
        check_options(opt)


def test_diversity_needs_several_samples(tmp_path):
    """Diversity of a single sample is always 0: the check asks for val.num_samples >= 2."""
    opt = tiny_opt(tmp_path)
    opt['val']['num_samples'] = 1
    opt['val']['metrics']['diversity'] = {'type': 'calculate_diversity', 'backbone_path': __file__}
    with pytest.raises(OptionError, match=r'val\.metrics\.diversity: diversity needs val\.num_samples >= 2'):
        check_options(opt)


def test_test_run_needs_the_trained_generator(tmp_path):
    """test.py options without path.pretrain_network_g are refused: they would sample from random weights."""
    opt = tiny_opt(tmp_path, is_train=False)
    opt['path']['pretrain_network_g'] = None
    with pytest.raises(OptionError, match=r'path\.pretrain_network_g is missing'):
        check_run_options(opt)


@pytest.mark.parametrize('world_size, per_gpu, expected', [(1, None, 48), (4, None, 12), (8, None, 6), (4, 12, 12)])
def test_total_batch_sets_the_batch_per_process(world_size, per_gpu, expected):
    """train.total_batch gives the paper's batch on any number of processes."""
    opt = {'world_size': world_size, 'train': {'total_batch': 48},
           'datasets': {'train': {} if per_gpu is None else {'batch_size_per_gpu': per_gpu}}}
    resolve_total_batch(opt)
    assert opt['datasets']['train']['batch_size_per_gpu'] == expected


@pytest.mark.parametrize('world_size, per_gpu, message', [(5, None, 'not divisible by the 5 processes'),
                                                          (8, 12, r'12 x 8 processes is not train\.total_batch')])
def test_total_batch_contradictions_are_errors(world_size, per_gpu, message):
    """A total batch that cannot be split, or a batch_size_per_gpu that contradicts it, is an error."""
    opt = {'world_size': world_size, 'train': {'total_batch': 48},
           'datasets': {'train': {} if per_gpu is None else {'batch_size_per_gpu': per_gpu}}}
    with pytest.raises(OptionError, match=message):
        resolve_total_batch(opt)


def test_lmdb_without_meta_info_is_reported(tmp_path):
    """An LMDB data root without meta_info.txt names the key and the missing file."""
    opt = tiny_opt(tmp_path)
    lmdb_dir = tmp_path / 'HR.lmdb'
    lmdb_dir.mkdir()
    opt['datasets']['train'].update(io_backend={'type': 'lmdb'}, dataroot_gt=str(lmdb_dir))
    with pytest.raises(OptionError, match=r'datasets\.train\.dataroot_gt: LMDB .*meta_info\.txt'):
        check_options(opt)
    (lmdb_dir / 'meta_info.txt').write_text('')
    opt['datasets']['train']['dataroot_lq'] = str(lmdb_dir)
    check_options(opt)


def test_model_construction_runs_the_checks(tmp_path):
    """build_model refuses bad options before building any network."""
    opt = tiny_opt(tmp_path)
    opt['diffusion']['num_timesteps'] = 0
    with pytest.raises(OptionError, match='diffusion.num_timesteps'):
        build_model(opt)


def test_lr_made_on_the_device_when_the_data_set_leaves_it_to_the_model(tmp_path):
    """With degrade_in_dataset: false the batch has only gt; feed_data degrades it to an LR of 1/scale size."""
    opt = tiny_opt(tmp_path)
    opt['datasets']['train'] = {'name': 'train', 'type': 'SRDDGANDegradedDataset', 'gt_size': 32,
                                'dataroot_gt': str(tmp_path), 'io_backend': {'type': 'disk'},
                                'degrade_in_dataset': False, 'degradation': {'jpeg_prob': 1.0}}
    model = build_model(opt)
    gt = torch.rand(2, 3, 32, 32)
    model.feed_data({'gt': gt})
    assert model.lq.shape == (2, 3, 8, 8) and model.gt.shape == gt.shape
    assert not torch.allclose(model.lq, torch.nn.functional.avg_pool2d(gt, 4), atol=1e-3)


@pytest.mark.parametrize('config, lr_g, lr_d, total_iter, total_batch, num_feat, ch_mult, scale, gt_size', [
    ('DIV2K_x4', 1e-4, 1.6e-4, 300000, 48, 64, [1, 1, 2, 2, 4, 4], 4, 128),
    ('FFHQ_x8', 1e-4, 1.6e-4, 240000, 48, 64, [1, 1, 2, 2, 4, 4], 8, 128),
    ('CIFAR10_x2', 1.5e-4, 1.2e-4, 280000, 128, 128, [1, 2, 2, 2], 2, 32),
])
@pytest.mark.parametrize('variant', ['', '_degraded'])
def test_paper_configs_hold_table_1(config, lr_g, lr_d, total_iter, total_batch, num_feat, ch_mult, scale, gt_size,
                                    variant):
    """The paper option files carry the paper's Table 1 values (DESIGN.md section 3)."""
    with open(osp.join(osp.dirname(__file__), '..', 'options', f'train_SRDDGAN_{config}{variant}.yml')) as f:
        opt = yaml.safe_load(f)
    train, net_g = opt['train'], opt['network_g']
    assert (train['optim_g']['type'], train['optim_d']['type']) == ('AdamW', 'AdamW')
    assert (float(train['optim_g']['lr']), float(train['optim_d']['lr'])) == (lr_g, lr_d)
    assert train['optim_g']['betas'] == train['optim_d']['betas'] == [0.5, 0.9]
    assert (train['ema_decay'], train['total_iter'], train['total_batch']) == (0.999, total_iter, total_batch)
    losses = train['content_style_opt']
    assert (train['gan_weight'], losses['content_weight'], losses['style_weight']) == (1.0, 0.8, 0.2)
    assert list(losses['layer_weights']) == ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_1']
    assert opt['diffusion']['num_timesteps'] == 4 and net_g['z_dim'] == 256 and net_g['attn_resolutions'] == [16]
    assert (net_g['num_feat'], net_g['ch_mult'], net_g['scale'], opt['scale']) == (num_feat, ch_mult, scale, scale)
    assert opt['datasets']['train']['gt_size'] == gt_size and net_g['lr_encoder'] and net_g['lr_concat']
