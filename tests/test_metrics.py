"""Metrics: LR-PSNR, LPIPS with its torchvision backbone, the NTIRE 2021 diversity score, and BasicSR's NIQE."""
import math
import os
import shutil

import cv2
import lpips
import numpy as np
import pytest
import skimage.data
import torch
from basicsr.metrics import calculate_niqe
from basicsr.utils.matlab_functions import imresize
from basicsr.utils.registry import METRIC_REGISTRY
from conftest import ALEXNET_CONV_SHAPES

from srddgan_arch.metrics.diversity_metric import calculate_diversity, calculate_sample_std, diversity_score
from srddgan_arch.metrics.lpips_metric import build_lpips, calculate_lpips, get_lpips, locate_backbone
from srddgan_arch.metrics.lr_psnr_metric import calculate_lr_psnr, downscale_uint8
from srddgan_arch.metrics.sharpness_metric import calculate_sharpness
from srddgan_arch.utils import download as downloader


@pytest.fixture(scope='module')
def photo():
    """A 64x64 BGR uint8 crop of scikit-image's astronaut."""
    return np.ascontiguousarray(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)[100:164, 180:244])


def add_noise(img, sigma, seed):
    """``img`` plus Gaussian noise, rounded and clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(np.round(img + noise), 0, 255).astype(np.uint8)


def reference_lpips(path, spatial):
    """The lpips package's network with the backbone tensors copied in by hand, layer by layer."""
    model = lpips.LPIPS(net='alex', spatial=spatial, pnet_rand=True, verbose=False).eval()
    state = torch.load(path, map_location='cpu')
    with torch.no_grad():
        for slice_index, index in enumerate(ALEXNET_CONV_SHAPES, start=1):
            conv = getattr(getattr(model.net, f'slice{slice_index}'), str(index))
            conv.weight.copy_(state[f'features.{index}.weight'])
            conv.bias.copy_(state[f'features.{index}.bias'])
    return model


def rgb_tensor(img_bgr):
    """BGR uint8 (H, W, 3) -> RGB float (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(img_bgr[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255 * 2 - 1


def test_lr_psnr_constant_by_hand():
    """SR of constant 100 against an LR of 98: the downscaled SR is exactly 100, PSNR = 10·log10(255² / 2²)."""
    sr, lq = np.full((16, 16, 3), 100, np.uint8), np.full((4, 4, 3), 98, np.uint8)
    assert calculate_lr_psnr(sr, lq) == pytest.approx(10 * math.log10(255**2 / 4))


def test_lr_psnr_crop_border_by_hand():
    """One matching corner pixel: MSE 45·4/48 over the whole LR, 4 once a 1-pixel border (in LR pixels) is cut."""
    sr, lq = np.full((16, 16, 3), 100, np.uint8), np.full((4, 4, 3), 98, np.uint8)
    lq[0, 0] = 100
    assert calculate_lr_psnr(sr, lq) == pytest.approx(10 * math.log10(255**2 / (45 * 4 / 48)))
    assert calculate_lr_psnr(sr, lq, crop_border=1) == pytest.approx(10 * math.log10(255**2 / 4))


def test_lr_psnr_consistency(photo):
    """The HR is exactly consistent (inf), a smooth bicubic upscaling nearly (> 45 dB), a noisy SR less."""
    lq = downscale_uint8(photo, 4)
    assert calculate_lr_psnr(photo, lq) == float('inf')
    smooth_lq = cv2.GaussianBlur(lq, (5, 5), 2)
    upscaled = np.clip(np.round(imresize(smooth_lq / 255., 4) * 255), 0, 255).astype(np.uint8)
    assert calculate_lr_psnr(upscaled, smooth_lq) > 45
    assert calculate_lr_psnr(add_noise(photo, 40, 0), lq) < calculate_lr_psnr(add_noise(photo, 10, 0), lq) < 45


def test_lr_psnr_registry_call(photo):
    """BasicSR's calling convention: metric data and options as keywords, extra keys ignored."""
    metric = METRIC_REGISTRY.get('calculate_lr_psnr')
    lq = downscale_uint8(photo, 2)
    value = metric(img=photo, img2=photo, lq=lq, crop_border=0, better='higher')
    assert value == float('inf')


def test_lr_psnr_refuses_non_integer_scale(photo):
    """Sizes that are not one integer multiple of each other are refused."""
    with pytest.raises(ValueError, match='integer upscaling'):
        calculate_lr_psnr(photo, photo[:24, :24])
    with pytest.raises(ValueError, match='integer upscaling'):
        calculate_lr_psnr(photo, photo[:16, :32])


def test_lpips_missing_backbone(tmp_path, monkeypatch, photo):
    """Not in the cache and no network: LPIPS raises, naming the file, torchvision's cache folder, the failed download
    and backbone_path."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError, match='alexnet-owt-7be5be79.pth') as error:
        calculate_lpips(photo, photo)
    message = str(error.value)
    assert str(tmp_path / 'hub' / 'checkpoints') in message and 'backbone_path' in message
    assert 'downloading it failed' in message
    assert 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth' in message


def test_lpips_backbone_from_cache_or_download(tmp_path, monkeypatch, alexnet_file, trusted_hashes):
    """The AlexNet backbone comes from torchvision's cache; when it is missing there it is downloaded there (hash
    prefix 7be5be79 checked), once."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    downloads = []

    def download(url, dst, hash_prefix=None, progress=True):
        downloads.append((url, hash_prefix))
        shutil.copy(alexnet_file, dst)

    monkeypatch.setattr(downloader, 'download_url_to_file', download)
    cached = tmp_path / 'hub' / 'checkpoints' / 'alexnet-owt-7be5be79.pth'
    assert locate_backbone('alex') == str(cached) == locate_backbone('alex')
    assert downloads == [('https://download.pytorch.org/models/alexnet-owt-7be5be79.pth', '7be5be79')]
    model = build_lpips('alex')
    assert torch.equal(model.net.slice1[0].weight, torch.load(alexnet_file)['features.0.weight'])


def test_lpips_matches_package_reference(alexnet_file, photo):
    """Same value as the lpips package's network with the same backbone tensors on RGB inputs in [-1, 1]."""
    noisy = add_noise(photo, 20, 1)
    value = calculate_lpips(noisy, photo, backbone_path=alexnet_file, lq=photo[:16, :16], better='lower')
    with torch.no_grad():
        expected = reference_lpips(alexnet_file, spatial=False)(rgb_tensor(noisy), rgb_tensor(photo)).item()
    assert value == pytest.approx(expected, rel=1e-5)
    assert calculate_lpips(photo, photo, backbone_path=alexnet_file) == 0
    rgb = calculate_lpips(noisy[:, :, ::-1], photo[:, :, ::-1], backbone_path=alexnet_file, bgr=False)
    assert rgb == pytest.approx(value, rel=1e-5)


def test_lpips_uses_package_heads_and_cache(alexnet_file):
    """The linear heads are the lpips package's v0.1 ones; the network is built once per key."""
    model = get_lpips('alex', backbone_path=alexnet_file)
    heads = torch.load(os.path.join(os.path.dirname(lpips.__file__), 'weights', 'v0.1', 'alex.pth'), map_location='cpu')
    assert torch.equal(model.lin0.model[1].weight, heads['lin0.model.1.weight'])
    assert get_lpips('alex', backbone_path=alexnet_file) is model
    with pytest.raises(ValueError, match='squeeze'):
        get_lpips('resnet', backbone_path=alexnet_file)


def test_diversity_score_by_hand():
    """Means 0.2 and 0.3 -> global 0.2; per-pixel minima (0.1, 0.1) -> local 0.1; score 50."""
    maps = torch.tensor([[[0.1, 0.3]], [[0.5, 0.1]]])
    assert diversity_score(maps) == pytest.approx(50)


@pytest.mark.parametrize('maps', [[[0.2, 0.4]] * 3, [[0.0, 0.0], [0.3, 0.1]]])
def test_diversity_score_is_zero(maps):
    """Identical samples (a deterministic model) and a perfect sample score 0."""
    assert diversity_score(torch.tensor(maps)) == 0


def test_diversity_of_samples(alexnet_file, photo):
    """Identical samples score 0; different ones score in (0, 100] as the reference maps say; bad input raises."""
    samples = [add_noise(photo, 30, seed) for seed in range(3)]
    assert calculate_diversity([samples[0]] * 3, photo, backbone_path=alexnet_file) == 0
    score = calculate_diversity(samples, photo, backbone_path=alexnet_file, lq=photo[:16, :16])
    with torch.no_grad():
        model = reference_lpips(alexnet_file, spatial=True)
        maps = torch.cat([model(rgb_tensor(sample), rgb_tensor(photo)) for sample in samples])
    assert 0 < score <= 100 and score == pytest.approx(diversity_score(maps), rel=1e-4)
    with pytest.raises(ValueError, match='at least one'):
        calculate_diversity([], photo, backbone_path=alexnet_file)
    with pytest.raises(ValueError, match='differ'):
        calculate_diversity([photo[:32]], photo, backbone_path=alexnet_file)


def test_basicsr_niqe_runs(photo):
    """BasicSR's NIQE runs as is on today's numpy/scipy for images of at least two 96-pixel blocks."""
    img = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)[:192, :192]
    assert 0 < calculate_niqe(img, crop_border=0) < 20


def test_sample_std_by_hand():
    """The pixel spread of samples: 0 for identical samples, 1 for two images that differ by 2 everywhere; one
    sample is refused."""
    zeros, twos = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 2, np.uint8)
    assert calculate_sample_std([twos, twos, twos]) == 0
    assert calculate_sample_std([zeros, twos]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='at least 2 samples'):
        calculate_sample_std([zeros])


def test_sharpness_relative_to_the_hr(photo):
    """1 for the HR itself, below 1 for its bicubic x4 round trip and a Gaussian blur, above 1 with added noise;
    registered, and a flat HR is refused."""
    upscaled = np.clip(np.round(imresize(imresize(photo / 255., 1 / 4), 4) * 255), 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(photo, (0, 0), 1.5)
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 10, photo.shape), 0, 255).astype(np.uint8)
    assert calculate_sharpness(photo, photo) == pytest.approx(1)
    assert calculate_sharpness(upscaled, photo) < 0.5 and calculate_sharpness(blurred, photo) < 0.5
    assert calculate_sharpness(noisy, photo) > 1.5
    assert METRIC_REGISTRY.get('calculate_sharpness')(blurred, photo, crop_border=4) < 1
    with pytest.raises(ValueError, match='flat'):
        calculate_sharpness(photo, np.full_like(photo, 7))
