"""srddgan-test on images of any size: the models pad the LR as srddgan-infer does and score the unpadded output."""
import math

import cv2
import numpy as np
import pytest
import torch
from basicsr.models import build_model
from conftest import photo_like_lq, tiny_srddgan_options

from srddgan_arch.lr_consistency import bicubic_downscale
from srddgan_arch.utils.padding import lr_multiple


def _odd_batch(lr_h=9, lr_w=11, scale=4):
    """A smooth LR image of odd size and its HR, mod-cropped to scale x LR as BasicSR's paired data set does."""
    lq = photo_like_lq(lr_h, lr_w, scale)
    return {'lq': lq, 'gt': torch.nn.functional.interpolate(lq, scale_factor=scale, mode='bicubic').clamp(0, 1)}


def _srddgan(tmp_path, scale=4, downsampler='bicubic'):
    opt = tiny_srddgan_options(tmp_path, is_train=False)
    opt['scale'] = scale
    # 4 levels: HR sizes must be multiples of 8, LR ones of 2 at x4 (1 at x8)
    opt['network_g'].update(scale=scale, ch_mult=[1, 2, 2, 2])
    opt['lr_consistency'] = {'downsampler': downsampler, 'iterations': 2}
    return build_model(opt)


@pytest.mark.parametrize('downsampler', ['none', 'bicubic'])
def test_srddgan_samples_an_odd_size_and_projects_on_it(tmp_path, downsampler):
    """An 11x9 LR at x4 (the U-Net needs even LR sides): every sample is 44x36, and with LR consistency each
    downscales to the unpadded LR (the projection runs on the original size after the crop; the final clamp to
    [0, 1] moves saturated pixels only: LR-PSNR above 45 dB)."""
    model = _srddgan(tmp_path, downsampler=downsampler)
    batch = _odd_batch()
    model.feed_data(batch)
    model.test()
    assert len(model.samples) == 2 and all(s.shape == (1, 3, 36, 44) for s in model.samples)
    mse = max(float((bicubic_downscale(s, 4) - batch['lq']).pow(2).mean()) for s in model.samples)
    assert (-10 * math.log10(mse) > 45) == (downsampler == 'bicubic'), mse


@pytest.mark.parametrize('downsampler', ['none', 'bicubic'])
def test_srddgan_test_draws_the_images_srddgan_infer_draws(tmp_path, downsampler):
    """Sample k of srddgan-test is srddgan-infer's image for seed val.seed + k (SRDDGANer pads, samples, crops and
    projects the same way), on an odd size."""
    from srddgan_arch.inference.upsampler import SRDDGANer
    from srddgan_arch.lr_consistency import LRConsistencyOptions
    model = _srddgan(tmp_path, downsampler=downsampler)
    batch = _odd_batch()
    model.feed_data(batch)
    model.test()
    upsampler = SRDDGANer(model.get_bare_model(model.net_g), scale=4, schedule=model.schedule, device='cpu',
                          lr_consistency=LRConsistencyOptions(downsampler=downsampler, iterations=2))
    assert upsampler.lr_multiple == 2
    for k, sr in enumerate(model.samples):
        torch.testing.assert_close(sr, upsampler.upsample_tensor(batch['lq'], seed=model.val_settings.seed + k))


def test_baseline_model_scores_an_odd_size(tmp_path):
    """SRBaselineModel with an x2 RRDBNet (it pixel-unshuffles the LR by 2): a 9x11 LR gives an 18x22 output."""
    opt = {'name': 'rrdb', 'model_type': 'SRBaselineModel', 'scale': 2, 'num_gpu': 0, 'is_train': False,
           'dist': False, 'rank': 0, 'world_size': 1, 'datasets': {},
           'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 2, 'num_feat': 8,
                         'num_block': 1, 'num_grow_ch': 4},
           'path': {'pretrain_network_g': None, 'strict_load_g': True}, 'val': {'metrics': {}}}
    model = build_model(opt)
    model.feed_data(_odd_batch(scale=2))
    model.test()
    assert model.output.shape == (1, 3, 18, 22) and model.samples[0] is model.output
    assert model.lq.shape == (1, 3, 9, 11)


@pytest.mark.parametrize('net_kind, scale, window, expected', [
    ('unet', 4, None, 2), ('unet', 8, None, 1), ('rrdb2', 2, None, 2), ('rrdb4', 4, None, 1), ('plain', 4, 8, 8)])
def test_lr_multiple_of_each_network(net_kind, scale, window, expected):
    """SRDDGAN U-Nets need HR multiples of 2 ** (levels - 1), RRDBNet x2 an even LR, SwinIR its window."""
    from basicsr.archs.rrdbnet_arch import RRDBNet
    nets = {'unet': type('UNet', (), {'divisor': 8})(), 'plain': torch.nn.Identity(),
            'rrdb2': RRDBNet(3, 3, scale=2, num_feat=4, num_block=1, num_grow_ch=4),
            'rrdb4': RRDBNet(3, 3, scale=4, num_feat=4, num_block=1, num_grow_ch=4)}
    assert lr_multiple(nets[net_kind], scale, window) == expected


def write_odd_pair(root, hr_w=491, hr_h=365, scale=4, seed=0):
    """A photo-like HR image of an odd size and its MATLAB-bicubic LR (of the HR mod-cropped to scale x LR)."""
    from basicsr.utils.matlab_functions import imresize
    rng = np.random.default_rng(seed)
    hr = cv2.resize(rng.uniform(0, 255, (6, 6, 3)).astype(np.float32), (hr_w, hr_h), interpolation=cv2.INTER_CUBIC)
    hr = np.clip(hr + rng.normal(0, 6, hr.shape), 0, 255).astype(np.uint8)
    cropped = hr[:hr_h - hr_h % scale, :hr_w - hr_w % scale]
    lr = np.clip(np.round(imresize(cropped.astype(np.float64) / 255, 1 / scale) * 255), 0, 255).astype(np.uint8)
    for folder, img in (('HR', hr), (f'LR_x{scale}', lr)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / folder / 'odd.png'), img)
    return root / 'HR', root / f'LR_x{scale}'
