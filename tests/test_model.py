"""SRDDGANModel: Algorithm 1 step, sampling, validation, checkpoints, non-finite steps (option checks: test_options)."""
import copy
import dataclasses
import logging
import math

import cv2
import numpy as np
import pytest
import torch
from basicsr.models import build_model
from basicsr.utils import get_root_logger
from conftest import tiny_srddgan_options as tiny_opt

from srddgan_arch.lr_consistency import bicubic_downscale
from srddgan_arch.options import OptionError

LOSS_KEYS = ('l_d_real', 'l_d_fake', 'l_d_r1', 'out_d_real', 'out_d_fake', 'l_g_adv', 'l_g_content', 'l_g_style',
             'l_g_pix')


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


def test_an_iteration_reads_nothing_back_from_the_device(tmp_path, monkeypatch):
    """With fused optimisers an iteration (R1 included) never converts a tensor to a Python number (on a GPU each
    conversion waits for the queue); the log reads them once, as numbers."""
    model = build_model(tiny_opt(tmp_path))
    model.feed_data(random_batch())

    def refuse(*args):
        raise AssertionError('a tensor was read back during the iteration')

    with monkeypatch.context() as patch:
        for name in ('item', 'tolist', '__bool__', '__float__', '__int__'):
            patch.setattr(torch.Tensor, name, refuse)
        model.optimize_parameters(1)
    log = model.get_current_log()
    assert all(type(log[key]) is float for key in LOSS_KEYS) and log['nonfinite_skipped'] == 0


def test_r1_in_the_real_backward_gives_the_separate_gradients(tmp_path):
    """D's gradients with R1 joined to the real term's backward equal those of two backward passes."""
    model = build_model(tiny_opt(tmp_path))
    generator = torch.Generator().manual_seed(0)
    y_prev, y_t = torch.randn(2, 2, 3, 32, 32, generator=generator)
    t = torch.tensor([1, 2])
    grads = []
    for joined in (True, False):
        model.net_d.zero_grad(set_to_none=True)
        y = y_prev.clone().requires_grad_(True)
        d_real = model.net_d(y, y_t, t)
        l_real = torch.nn.functional.softplus(-d_real).mean()
        if joined:
            (l_real + model._r1_penalty(d_real, y)).backward()
        else:
            l_real.backward(retain_graph=True)
            model._r1_penalty(d_real, y).backward()
        grads.append([p.grad.clone() for p in model.net_d.parameters()])
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(*grads, strict=True))


@pytest.mark.parametrize('share', [False, True])
def test_share_g_forward_runs_g_once_per_iteration(tmp_path, share):
    """Algorithm 1 runs G twice per iteration (D step without gradient, G step); share_g_forward once, and still
    updates G, D and the EMA."""
    opt = tiny_opt(tmp_path)
    opt['train']['share_g_forward'] = share
    model = build_model(opt)
    calls = []
    model.net_g.register_forward_hook(lambda *args: calls.append(1))
    g_before = copy.deepcopy(model.net_g.state_dict())
    model.feed_data(random_batch())
    model.optimize_parameters(1)
    assert len(calls) == (1 if share else 2)
    assert any(not torch.equal(v, g_before[k]) for k, v in model.net_g.state_dict().items())
    assert all(math.isfinite(model.get_current_log()[k]) for k in LOSS_KEYS)


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


@pytest.mark.parametrize('fused', [True, False])
def test_nonfinite_steps_are_skipped_then_training_stops(tmp_path, fused):
    """A NaN batch skips the update (G, D, the EMA and the optimiser states unchanged, counted) with fused optimisers
    (decided on the device) and others; max_nonfinite_steps in a row raise RuntimeError at the next read of the log
    (and before a checkpoint), even after a good step."""
    opt = tiny_opt(tmp_path)
    opt['train']['content_style_opt'] = None
    for name in ('optim_g', 'optim_d'):
        opt['train'][name]['fused'] = fused
    model = build_model(opt)
    batch = random_batch()
    batch['gt'][0, 0, 0, 0] = float('nan')
    model.feed_data(batch)
    nets = {'g': model.net_g, 'd': model.net_d, 'ema': model.net_g_ema}
    before = {name: copy.deepcopy(net.state_dict()) for name, net in nets.items()}
    for current_iter in (1, 2):
        model.optimize_parameters(current_iter)
    assert model.get_current_log()['nonfinite_skipped'] == 2
    for name, net in nets.items():
        assert all(torch.equal(v, before[name][k]) for k, v in net.state_dict().items()), name
    states = [state for optimizer in model.optimizers for state in optimizer.state.values()]
    assert all(state['step'] == 0 and not state['exp_avg'].any() for state in states)  # no moment moved
    model.optimize_parameters(3)
    model.feed_data(random_batch())
    model.optimize_parameters(4)
    with pytest.raises(RuntimeError, match='max_nonfinite_steps'):
        model.get_current_log()
    with pytest.raises(RuntimeError, match='max_nonfinite_steps'):
        model.save(0, 4)


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
    model.val_settings = dataclasses.replace(model.val_settings, seed=4)
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


def photo_like_batch(seed=0):
    """A smooth HR image (1, 3, 32, 32) in [0.1, 0.9] and its MATLAB bicubic LR rounded to uint8 levels, in [0, 1]."""
    coarse = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1
    gt = torch.nn.functional.interpolate(coarse, size=32, mode='bilinear', align_corners=True)
    return {'lq': (bicubic_downscale(gt, 4) * 255).round() / 255, 'gt': gt}


def _validate(model, batch, name='tiny_val'):
    """Run the model's validation on one LR/HR pair."""
    loader = type('Loader', (list, ), {})([dict(batch, lq_path=['img_a.png'])])
    loader.dataset = type('Dataset', (), {'opt': {'name': name}})()
    model.validation(loader, current_iter=0, tb_logger=None, save_img=False)


def test_validation_scores_bicubic_and_ibp_references_once(tmp_path, monkeypatch):
    """The first validation of a data set scores bicubic and IBP with the per-sample metrics (not the set metric)
    on the same images and logs them; later validations reuse them."""
    opt = tiny_opt(tmp_path, is_train=False)
    opt['val']['metrics']['lr_psnr'] = {'type': 'calculate_lr_psnr'}
    model = build_model(opt)
    batch = photo_like_batch()
    _validate(model, batch)
    references = model.reference_results['tiny_val']
    assert set(references) == {'bicubic', 'ibp'} and set(references['ibp']) == {'psnr', 'lr_psnr'}
    assert references['ibp']['lr_psnr'] > references['bicubic']['lr_psnr'] + 10
    calls = []
    monkeypatch.setattr(model, '_reference_metrics', lambda *args: calls.append(args))
    _validate(model, batch)
    assert calls == [] and model.reference_results['tiny_val'] is references


@pytest.mark.parametrize('downsampler', ['none', 'bicubic'])
def test_lr_consistency_option_projects_the_samples(tmp_path, downsampler):
    """lr_consistency.downsampler: bicubic makes every sample downscale to the LR input (LR-PSNR above 45 dB, as the
    IBP reference); 'none' leaves the untrained generator's samples inconsistent."""
    opt = tiny_opt(tmp_path, is_train=False)
    opt['val']['metrics']['lr_psnr'] = {'type': 'calculate_lr_psnr'}
    opt['lr_consistency'] = {'downsampler': downsampler, 'iterations': 3}
    model = build_model(opt)
    _validate(model, photo_like_batch())
    consistent = model.metric_results['lr_psnr'] > 45
    assert consistent == (downsampler == 'bicubic')


def test_save_stores_g_ema_d_and_training_state(tmp_path):
    """save() writes net_g (params + params_ema + the diffusion schedule G trains with), net_d and a state with both
    optimisers and the iteration."""
    model = build_model(tiny_opt(tmp_path))
    (tmp_path / 'models').mkdir()
    (tmp_path / 'states').mkdir()
    model.save(epoch=0, current_iter=5)
    net_g = torch.load(tmp_path / 'models' / 'net_g_5.pth', weights_only=True)
    assert set(net_g) == {'params', 'params_ema', 'diffusion'}
    assert net_g['diffusion'] == {'num_timesteps': 2, 'beta_min': 0.1, 'beta_max': 20.0}
    assert set(torch.load(tmp_path / 'models' / 'net_d_5.pth', weights_only=True)) == {'params'}
    state = torch.load(tmp_path / 'states' / '5.state', weights_only=False)
    assert state['iter'] == 5 and len(state['optimizers']) == 2


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




def test_loading_a_generator_trained_with_another_schedule_warns(tmp_path, caplog, monkeypatch):
    """A test run whose diffusion section differs from the schedule recorded in path.pretrain_network_g logs a
    warning naming the difference; the same schedule logs none."""
    monkeypatch.setattr(get_root_logger(), 'propagate', True)
    trained = build_model(tiny_opt(tmp_path))
    (tmp_path / 'models').mkdir()
    (tmp_path / 'states').mkdir()
    trained.save(epoch=0, current_iter=1)
    opt = tiny_opt(tmp_path, is_train=False)
    opt['path']['pretrain_network_g'] = str(tmp_path / 'models' / 'net_g_1.pth')
    for num_timesteps, warned in ((2, False), (4, True)):
        opt['diffusion']['num_timesteps'] = num_timesteps
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='basicsr'):
            build_model(copy.deepcopy(opt))
        assert ('num_timesteps 4 (trained: 2)' in caplog.text) == warned


def test_compile_option_compiles_the_generator_only(tmp_path):
    """train.compile compiles G's calls in place (checkpoint keys unchanged); D (R1 needs its double backward, which
    compiled graphs lack) and the sampling EMA copy stay eager. (Compiling takes minutes on the CPU: no step here.)"""
    opt = tiny_opt(tmp_path)
    opt['train']['compile'] = True
    model = build_model(opt)
    assert model.net_g._compiled_call_impl is not None
    assert model.net_d._compiled_call_impl is None and model.net_g_ema._compiled_call_impl is None
    assert list(model.net_g.state_dict()) == list(model.net_g_ema.state_dict())
