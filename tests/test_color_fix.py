"""Tests of the colour fix (``srddgan_arch.color_fix``): what each method keeps of the output and takes from the LR,
and where it is offered (srddgan-infer, validation, the benchmark) and refused (with the LR projection, ONNX)."""
import re

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import photo_like_lq, run_cli, write_tiny_rrdb
from torch.nn import functional as F

from srddgan_arch.color_fix import color_fix, low_frequencies
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.models.srddgan_options import parse_model_options
from srddgan_arch.options import OptionError


def _pattern(size):
    """A fine +-1 checkerboard (B, 3, size, size): all high frequencies."""
    y, x = np.mgrid[:size, :size]
    return torch.from_numpy(((x + y) % 2 * 2 - 1).astype(np.float32)).expand(1, 3, size, size)


def test_wavelet_keeps_the_detail_and_takes_the_colours_of_the_lr():
    """An output with the LR's content, a colour cast and fine detail: the wavelet fix removes the cast (a low
    frequency) and keeps the detail (a high one), to within a few 1/255 steps away from the borders."""
    lq = photo_like_lq(32, 32, scale=4)  # (1, 3, 32, 32) in [0, 1]
    upsampled = F.interpolate(lq, scale_factor=4, mode='bicubic', align_corners=False).clamp(0, 1)
    detail = 0.04 * _pattern(128)
    sr = (0.8 * upsampled + 0.1 + detail).clamp(0, 1)  # darker contrast, a cast and detail
    fixed = color_fix(sr, lq, 'wavelet')
    inner = (..., slice(16, -16), slice(16, -16))
    expected = (upsampled + detail).clamp(0, 1)
    assert (fixed - expected)[inner].abs().mean() < 3 / 255 < (sr - expected)[inner].abs().mean()
    assert torch.allclose(low_frequencies(fixed)[inner], low_frequencies(upsampled)[inner], atol=4 / 255)


def test_adain_takes_the_channel_statistics_of_the_upsampled_lr():
    """After the adain fix each channel's mean and standard deviation are the upsampled LR's; 'none' is the output."""
    lq = photo_like_lq(16, 24, scale=4)
    sr = torch.rand(1, 3, 64, 96) * 0.5 + 0.3
    fixed = color_fix(sr, lq, 'adain')
    upsampled = F.interpolate(lq, size=(64, 96), mode='bicubic', align_corners=False).clamp(0, 1)
    assert torch.allclose(fixed.mean(dim=(2, 3)), upsampled.mean(dim=(2, 3)), atol=2e-3)
    assert torch.allclose(fixed.std(dim=(2, 3)), upsampled.std(dim=(2, 3)), atol=2e-3)
    assert color_fix(sr, lq, 'none') is sr
    with pytest.raises(ValueError, match='color_fix must be one of none, wavelet, adain'):
        color_fix(sr, lq, 'histogram')


def test_upsampler_applies_the_fix_and_refuses_it_with_the_projection(tmp_path):
    """build_upsampler(color_fix=...) changes the output of a sampler without the LR projection; with the projection
    it is refused, naming both settings."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    lq = np.ascontiguousarray(photo_like_lq(12, 10, scale=4)[0].permute(1, 2, 0).numpy()[:, :, ::-1])
    plain = build_upsampler(opt_path, model_path, device='cpu', lr_consistency='none').enhance(lq)
    fixed = build_upsampler(opt_path, model_path, device='cpu', lr_consistency='none', color_fix='adain').enhance(lq)
    assert fixed.shape == plain.shape and np.abs(fixed - plain).mean() > 1e-3
    with pytest.raises(ValueError, match=r'color_fix wavelet is for samplers without the LR projection.*bicubic'):
        build_upsampler(opt_path, model_path, device='cpu', lr_consistency='bicubic', color_fix='wavelet')


def test_cli_color_fix_is_offered_and_refused_in_one_line(tmp_path, capsys):
    """srddgan-infer --color_fix writes the fixed image; with the option file's projection, or with the ONNX
    backend, it is one line on stderr."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    lq = (photo_like_lq(12, 10, scale=4)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'lq.png'), lq)
    base = ['-i', str(tmp_path / 'lq.png'), '-o', str(tmp_path / 'out'), '-opt', opt_path, '--model_path', model_path,
            '--device', 'cpu', '--color_fix', 'wavelet']
    code, err = run_cli(capsys, *base, '--lr_consistency', 'none')
    assert code == 0 and cv2.imread(str(tmp_path / 'out' / 'lq_srddgan.png')).shape == (48, 40, 3)
    code, err = run_cli(capsys, *base, '--lr_consistency', 'bicubic', '--overwrite')
    assert code != 0 and len(err.strip().splitlines()) == 1 and '--lr_consistency none' in err, err
    code, err = run_cli(capsys, *base, '--backend', 'onnxruntime', '--overwrite')
    assert code != 0 and re.search(r'--color_fix needs --backend torch', err), err


def test_validation_color_fix_is_checked_against_the_projection(tmp_path):
    """val.color_fix with lr_consistency's projection on is refused at start-up, naming both keys; without the
    projection it is read."""
    opt_path, _ = write_tiny_rrdb(tmp_path)
    opt = yaml.safe_load(open(opt_path))
    opt = dict(opt, model_type='SRDDGANModel', is_train=False, scale=4, val={'color_fix': 'adain'})
    with pytest.raises(OptionError, match=r'val\.color_fix adain .*lr_consistency\.downsampler is bicubic'):
        parse_model_options(dict(opt, lr_consistency={'downsampler': 'bicubic'}))
    assert parse_model_options(dict(opt, lr_consistency={'downsampler': 'none'})).val.color_fix == 'adain'
