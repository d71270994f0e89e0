"""One benchmark convention: the test option files and scripts/benchmark_quality.py score the same metric set on the
same data set names, and benchmark_quality reproduces srddgan-test's numbers on the same images."""
import glob
import io
import logging
import re
import sys
from os import path as osp

import pytest
import torch
import yaml
from conftest import load_script
from test_any_size import write_odd_pair

from srddgan_arch.metrics.benchmark import benchmark_metrics
from srddgan_arch.option_files import load_yaml
from srddgan_arch.utils.padding import lr_multiple

OPTIONS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'options')
# the x4 DIV2K validation files a user points at the same folders
DIV2K_X4 = ('test_SRDDGAN_DIV2K_x4.yml', 'test_RRDB_baseline_x4.yml', 'test_ESRGAN_baseline_x4.yml',
            'test_SwinIR_x4.yml')
# the odd HR size (width, height) of the reproduction: no side a multiple of 4 or 8, large enough for NIQE at x8
ODD_W, ODD_H = 245, 183


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(OPTIONS, 'test_*.yml'))), ids=osp.basename)
def test_test_option_files_score_the_benchmark_metrics(path):
    """Every test file lists the convention's metrics (diversity for the stochastic SRDDGAN only; no NIQE on the
    32-px CIFAR-10 images, too small for it)."""
    opt = load_yaml(path)
    small = opt['datasets']['test_1']['name'] == 'CIFAR10_test'
    assert opt['val']['metrics'] == benchmark_metrics(opt['scale'], opt['model_type'] == 'SRDDGANModel',
                                                      niqe=not small)


def test_div2k_files_name_and_read_the_same_data():
    """SRDDGAN, RRDB, ESRGAN and SwinIR read the same DIV2K folders under one data set name."""
    datasets = [load_yaml(osp.join(OPTIONS, name))['datasets'] for name in DIV2K_X4]
    assert all(d == datasets[0] for d in datasets) and datasets[0]['test_1']['name'] == 'DIV2K_val_128'


def test_swinir_file_builds_basicsr_swinir_and_pads_to_its_window():
    """The SwinIR file's network is BasicSR's SwinIR (constructor keys as given); the baseline pads to its window."""
    from basicsr.archs import build_network
    opt = load_yaml(osp.join(OPTIONS, 'test_SwinIR_x4.yml'))
    tiny = dict(opt['network_g'], depths=[1], num_heads=[1], embed_dim=6, img_size=16)
    net = build_network(tiny)
    assert type(net).__name__ == 'SwinIR' and lr_multiple(net, 4, tiny['window_size']) == 8
    assert net(torch.rand(1, 3, 8, 16)).shape == (1, 3, 32, 64)


def _logged(log_text):
    """metric -> value of the model's rows of a BasicSR validation log (not the bicubic/IBP reference rows)."""
    lines = [line for line in log_text.splitlines() if not line.lstrip().startswith(('# bicubic:', '# ibp:'))]
    return {key: float(value) for key, value in re.findall(r'# (\w+): ([-\d.]+)', '\n'.join(lines))}


def _srddgan_test(tmp_path, scale, alexnet_file, monkeypatch):
    """srddgan-test (BasicSR's test_pipeline with srddgan's fixes) of a tiny SRDDGAN on an ODD_W x ODD_H HR image at
    ``scale``; returns the option file, the weights and the logged metrics."""
    from basicsr.archs import build_network
    from basicsr.test import test_pipeline
    hr_dir, lr_dir = write_odd_pair(tmp_path / 'data', hr_w=ODD_W, hr_h=ODD_H, scale=scale)
    network_g = {'type': 'SRDDGANUNet', 'scale': scale, 'image_size': 32, 'num_feat': 8, 'ch_mult': [1, 2, 2, 2],
                 'num_res_blocks': 1, 'attn_resolutions': [], 'z_dim': 8, 'num_mapping_layers': 1,
                 'lr_encoder': True, 'encoder_num_feat': 8, 'encoder_num_block': 2, 'encoder_num_grow_ch': 4}
    torch.manual_seed(0)
    weights = tmp_path / 'net_g.pth'
    torch.save({'params': build_network(dict(network_g)).state_dict()}, weights)
    opt = {'name': f'odd_x{scale}', 'model_type': 'SRDDGANModel', 'scale': scale, 'num_gpu': 0, 'manual_seed': 0,
           'diffusion': {'num_timesteps': 2}, 'lr_consistency': {'downsampler': 'bicubic', 'iterations': 2},
           'datasets': {'test_1': {'name': 'odd', 'type': 'PairedImageDataset', 'dataroot_gt': str(hr_dir),
                                   'dataroot_lq': str(lr_dir), 'io_backend': {'type': 'disk'}}},
           'network_g': network_g, 'path': {'pretrain_network_g': str(weights), 'param_key_g': 'params'},
           'val': {'save_img': True, 'num_samples': 2, 'seed': 0,
                   'metrics': benchmark_metrics(scale, True, alexnet_file)}}
    opt_path = tmp_path / f'test_x{scale}.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    monkeypatch.setattr(sys, 'argv', ['test.py', '-opt', str(opt_path)])
    stream, logger = io.StringIO(), logging.getLogger('basicsr')
    handler, level = logging.StreamHandler(stream), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        test_pipeline(str(tmp_path))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return opt_path, weights, hr_dir, lr_dir, _logged(stream.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize('scale', [4, 8])
def test_benchmark_quality_reproduces_srddgan_test_on_an_odd_size(tmp_path, scale, alexnet_file, monkeypatch):
    """A 245x183 HR image (BasicSR mod-crops it to scale x LR) runs through srddgan-test at x4 and x8, its two
    samples saved at the cropped size; benchmark_quality scores the same tiny model on the same images with the
    same numbers, every metric of the convention."""
    import cv2
    opt_path, weights, hr_dir, lr_dir, logged = _srddgan_test(tmp_path, scale, alexnet_file, monkeypatch)
    saved = sorted(glob.glob(str(tmp_path / 'results' / f'odd_x{scale}' / 'visualization' / 'odd' / '*.png')))
    assert [osp.basename(p) for p in saved] == [f'odd_odd_x{scale}_s0.png', f'odd_odd_x{scale}_s1.png']
    assert cv2.imread(saved[0]).shape == (ODD_H // scale * scale, ODD_W // scale * scale, 3)
    assert logged['lr_psnr'] > 45  # the projection on the unpadded LR
    script = load_script('benchmark_quality')
    script.main(['--gt', str(hr_dir), '--lq', str(lr_dir), '-s', str(scale), '--methods', 'srddgan',
                 '--srddgan_opt', str(opt_path), '--srddgan_model', str(weights), '--num_samples', '2', '--seed',
                 '0', '--lpips_backbone', alexnet_file, '--device', 'cpu', '--output', str(tmp_path / 'table.md')])
    args = script.parse_args(['--gt', str(hr_dir), '--lq', str(lr_dir), '-s', str(scale), '--num_samples', '2',
                              '--lpips_backbone', alexnet_file])
    pairs = script.load_pairs(str(hr_dir), str(lr_dir), scale)
    upsampler = script.build_upsampler(str(opt_path), str(weights), device='cpu')
    results = script.evaluate('srddgan', script.model_method(upsampler), pairs, script.MetricSet(args), args)
    names = set(benchmark_metrics(scale, True))
    assert names <= set(logged) and names <= set(results)
    for name in names:
        assert results[name] == pytest.approx(logged[name], abs=1e-4), name


def test_niqe_on_images_too_small_for_it_is_refused_at_start_up(tmp_path):
    """NIQE on 32-px test images is named before anything is built (BasicSR's NIQE fails after sampling)."""
    from conftest import write_paired_images

    from srddgan_arch.data.preflight import check_data
    from srddgan_arch.options import OptionError
    hr_dir, lr_dir = write_paired_images(str(tmp_path / 'data'), num_images=1)
    opt = {'scale': 4, 'is_train': False, 'val': {'metrics': benchmark_metrics(4, True)},
           'datasets': {'test_1': {'name': 'small', 'type': 'PairedImageDataset', 'phase': 'test', 'scale': 4,
                                   'dataroot_gt': hr_dir, 'dataroot_lq': lr_dir, 'io_backend': {'type': 'disk'}}}}
    with pytest.raises(OptionError, match=r'val\.metrics\.niqe: .* at least 96x96 .*000\.png of 32x32: remove niqe'):
        check_data(opt)
    opt['val']['metrics'] = benchmark_metrics(4, True, niqe=False)
    check_data(opt)
