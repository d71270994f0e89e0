"""Shared pytest fixtures. Every test imports the plugin first (compatibility fixes and registries)."""
import functools
import http.server
import importlib.util
import logging
import math
import os
import sys
import threading
from os import path as osp
from urllib.error import URLError

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from study_data import study_datasets  # noqa: F401  (a session fixture of the studies' end-to-end tests)
from torch import nn

import srddgan_arch  # before anything imports basicsr: it makes `import basicsr` work
from srddgan_arch.archs.srddgan_unet_arch import SRDDGANUNet
from srddgan_arch.inference.loading import build_network
from srddgan_arch.lr_consistency import bicubic_downscale
from srddgan_arch.utils import download as downloader
from srddgan_arch.utils.download import download_url_to_file

SCRIPTS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'scripts')
# scripts that use another script import it by name, as Python runs them: with their own folder first on sys.path
sys.path.insert(0, SCRIPTS)


class _CurrentStderr:
    """A stream that writes to whatever ``sys.stderr`` is at the moment (pytest gives each test its own)."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


@pytest.fixture(autouse=True)
def basicsr_logs_to_this_tests_stderr():
    """BasicSR's root logger is made once, its stream handler holding the stderr of the test that made it, which pytest
    closes after that test: a later test's warning would fail ("I/O operation on closed file") instead of reaching
    that test's stderr. The handler writes to the current stderr instead."""
    for handler in logging.getLogger('basicsr').handlers:
        if type(handler) is logging.StreamHandler and not isinstance(handler.stream, _CurrentStderr):
            handler.stream = _CurrentStderr()  # (not setStream: it flushes the old stream, which may be closed)


def load_script(name):
    """Import scripts/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(name, osp.join(SCRIPTS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calculate_sample_spread(samples, img2, **kwargs):
    """Test set metric of ``tiny_srddgan_options``: mean absolute difference between the first and last samples."""
    return float(np.abs(samples[0].astype(float) - samples[-1].astype(float)).mean())


def register_test_metric():
    """Register ``calculate_sample_spread`` in BasicSR's metric registry (imported after srddgan_arch)."""
    from basicsr.utils.registry import METRIC_REGISTRY
    METRIC_REGISTRY.register(calculate_sample_spread)


register_test_metric()


def write_paired_images(root, num_images=8, hr_size=32, scale=4, seed=0):
    """Write ``num_images`` smooth random HR PNGs and their MATLAB-bicubic LR under ``root/{HR,LR}``.

    Returns:
        tuple[str, str]: The HR and LR folders.
    """
    from basicsr.utils.matlab_functions import imresize

    rng = np.random.default_rng(seed)
    hr_dir, lr_dir = osp.join(root, 'HR'), osp.join(root, 'LR')
    for folder in (hr_dir, lr_dir):
        os.makedirs(folder, exist_ok=True)
    for index in range(num_images):
        coarse = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.float32)
        hr = cv2.resize(coarse, (hr_size, hr_size), interpolation=cv2.INTER_CUBIC)
        hr = np.clip(hr + rng.normal(0, 8, hr.shape), 0, 255).astype(np.uint8)
        lr = np.clip(np.round(imresize(hr.astype(np.float64) / 255, 1 / scale) * 255), 0, 255).astype(np.uint8)
        cv2.imwrite(osp.join(hr_dir, f'{index:03d}.png'), hr)
        cv2.imwrite(osp.join(lr_dir, f'{index:03d}.png'), lr)
    return hr_dir, lr_dir


class RunsCommand:
    """An object whose unpickling calls ``os.system(command)``, as a crafted checkpoint or data file would."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def tiny_srddgan_options(tmp_path, is_train=True):
    """SRDDGANModel options as BasicSR's parse_options returns them, with 8-channel networks for 32x32 HR / 8x8 LR
    images; data folders and output paths in ``tmp_path``."""
    opt = {
        'name': 'tiny', 'model_type': 'SRDDGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'is_train': is_train, 'dist': False, 'rank': 0, 'world_size': 1,
        'diffusion': {'num_timesteps': 2},
        'datasets': {'train': {'name': 'train', 'type': 'PairedImageDataset', 'gt_size': 32,
                               'dataroot_gt': str(tmp_path), 'dataroot_lq': str(tmp_path),
                               'io_backend': {'type': 'disk'}, 'use_hflip': True, 'use_rot': True,
                               'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}},
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
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 5, 'use_tb_logger': False},
        'val': {'val_freq': 5, 'num_samples': 2, 'seed': 3, 'save_img': True,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0},
                            'spread': {'type': 'calculate_sample_std'}}},
    }
    return opt if is_train else {k: v for k, v in opt.items() if k not in ('train', 'network_d', 'logger')}


def run_options(tmp_path, is_train=True):
    """``tiny_srddgan_options`` whose data set (train, or test for a test run) has one real 32x32 HR / 8x8 LR pair."""
    opt = tiny_srddgan_options(tmp_path, is_train)
    hr_dir, lr_dir = write_paired_images(str(tmp_path / 'data'), num_images=1)
    opt['datasets']['train'].update(dataroot_gt=hr_dir, dataroot_lq=lr_dir)
    if not is_train:
        opt['datasets'] = {'test': opt['datasets']['train']}
    return opt


@pytest.fixture
def paired_data(tmp_path):
    """Eight 32x32 HR / 8x8 LR PNG pairs: (hr_dir, lr_dir)."""
    return write_paired_images(str(tmp_path / 'data'))


def link_package(root):
    """Link the package into ``root``: its ``srddgan_arch/train.py`` and ``test.py`` then run as from an installed
    package, whose experiment root is the working directory (no setup.py next to it), so ``experiments/`` and
    ``results/`` go to ``root`` when it is the working directory, never into the checkout.

    Returns:
        pathlib.Path: ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(osp.dirname(osp.abspath(srddgan_arch.__file__)), root / 'srddgan_arch')
    return root


@pytest.fixture(autouse=True, scope='session')
def single_thread():
    """One thread per process, here and in the runs the tests start: tiny tensors gain nothing from intra-op threads,
    and on a busy shared CPU the threads wait for each other (tiny steps become 10-100x slower)."""
    threads, omp = torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS')
    torch.set_num_threads(1)
    os.environ['OMP_NUM_THREADS'] = '1'
    yield
    torch.set_num_threads(threads)
    if omp is None:
        del os.environ['OMP_NUM_THREADS']
    else:
        os.environ['OMP_NUM_THREADS'] = omp


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test downloads: srddgan's downloader fails as on a machine without network (a test that needs a download
    replaces it)."""
    def no_network(url, *args, **kwargs):
        raise URLError(f'no network in the tests: {url}')
    monkeypatch.setattr(downloader, 'download_url_to_file', no_network)


@pytest.fixture
def trusted_hashes(monkeypatch):
    """Cached files whose names carry a SHA-256 prefix pass its check (tests fake weight files under torchvision's
    names, which no fake content matches)."""
    monkeypatch.setattr(downloader, 'file_sha256', lambda path: downloader.hash_prefix_of(path) or '')


@pytest.fixture
def run_root(tmp_path):
    """An experiment root under ``tmp_path`` with the package linked into it (see ``link_package``)."""
    return link_package(tmp_path / 'root')


# torchvision AlexNet's ``features`` convolutions: index -> weight shape
ALEXNET_CONV_SHAPES = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3),
                       10: (256, 256, 3, 3)}


@pytest.fixture(scope='session')
def alexnet_file(tmp_path_factory):
    """A fake torchvision AlexNet state dict (the ``features`` tensors only, seeded random values) for LPIPS."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, shape in ALEXNET_CONV_SHAPES.items():
        fan_in = shape[1] * shape[2] * shape[3]
        state[f'features.{index}.weight'] = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        state[f'features.{index}.bias'] = torch.zeros(shape[0])
    path = tmp_path_factory.mktemp('torchvision') / 'alexnet-owt-7be5be79.pth'
    torch.save(state, path)
    return str(path)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """torch.hub's checkpoint folder under ``tmp_path`` (``$TORCH_HOME/hub/checkpoints``)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    return tmp_path / 'torch' / 'hub' / 'checkpoints'


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the files of ``directory`` and counts the requests (in ``served``)."""

    served = []

    def do_GET(self):
        self.served.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_folder(tmp_path, monkeypatch):
    """A folder served over HTTP on 127.0.0.1 for the test, with srddgan's real downloader (tests that use it are
    marked slow): (folder, base address, list of the paths requested)."""
    monkeypatch.setattr(downloader, 'download_url_to_file', download_url_to_file)
    folder = tmp_path / 'served'
    folder.mkdir()
    CountingHandler.served = []
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(CountingHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_port}', CountingHandler.served
    server.shutdown()
    server.server_close()


TINY_RRDB = dict(type='RRDBNet', num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4)
TINY_SRDDGAN = dict(type='SRDDGANUNet', scale=2, image_size=16, num_feat=8, ch_mult=[1, 2], num_res_blocks=1,
                    attn_resolutions=[], z_dim=4, num_mapping_layers=1, lr_encoder=False)


def bicubic(scale):
    """Stand-in upsampler: bicubic interpolation (deterministic and local)."""
    return lambda x: F.interpolate(x, scale_factor=scale, mode='bicubic', align_corners=False)


class BicubicNet(nn.Module):
    """Stand-in plain SR network: bicubic upscaling with a ``scale`` attribute."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return bicubic(self.scale)(x)


def photo_like_lq(height=24, width=36, scale=2):
    """A smooth LR image (1, 3, h, w) in [0.1, 0.9]: the MATLAB bicubic downscale of a smooth HR image."""
    coarse = torch.rand(1, 3, 3, 4, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    hr = F.interpolate(coarse, size=(height * scale, width * scale), mode='bilinear', align_corners=True)
    return bicubic_downscale(hr, scale)


def write_tiny_rrdb(tmp_path):
    """A tiny random-weight RRDBNet's option file and checkpoint in ``tmp_path``: (option file, checkpoint)."""
    opt_path, model_path = tmp_path / 'net.yml', tmp_path / 'net.pth'
    opt_path.write_text(yaml.safe_dump({'network_g': TINY_RRDB}))
    torch.save({'params_ema': build_network(TINY_RRDB).state_dict()}, model_path)
    return str(opt_path), str(model_path)


TINY_ENCODER = dict(encoder_num_feat=4, encoder_num_block=2, encoder_num_grow_ch=4)


def tiny_unet(**kwargs):
    """A small generator: 32 px, two levels, attention at 16 px, every block type present."""
    options = dict(scale=2, image_size=32, num_feat=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16, ),
                   z_dim=8, num_mapping_layers=2, **TINY_ENCODER)
    options.update(kwargs)
    return SRDDGANUNet(**options)


def inputs(batch=2, size=32, scale=2, z_dim=8, seed=0):
    """y_t, lq, t, z for a generator call."""
    rng = torch.Generator().manual_seed(seed)
    y_t = torch.randn(batch, 3, size, size, generator=rng)
    lq = torch.rand(batch, 3, size // scale, size // scale, generator=rng) * 2 - 1
    t = torch.randint(1, 5, (batch, ), generator=rng)
    return y_t, lq, t, torch.randn(batch, z_dim, generator=rng)


def run_cli(capsys, *argv):
    """``main(argv)`` -> (exit code, stderr); usage errors exit through SystemExit."""
    from srddgan_arch.commands.infer import main

    try:
        code = main(list(argv))
    except SystemExit as error:
        code = error.code
    return code, capsys.readouterr().err


@pytest.fixture
def model_args(tmp_path):
    """-opt and --model_path of a tiny RRDBNet, on the CPU."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    return ['-opt', opt_path, '--model_path', model_path, '--device', 'cpu']


def tiny_pipeline_networks():
    """The network_g and network_d sections of the tiny x4 model (8 channels, 32x32 HR crops, an LR encoder) that the
    pipeline tests train."""
    return {'network_g': {'type': 'SRDDGANUNet', 'scale': 4, 'image_size': 32, 'num_feat': 8, 'ch_mult': [1, 2],
                          'num_res_blocks': 1, 'attn_resolutions': [], 'z_dim': 8, 'num_mapping_layers': 1,
                          'lr_encoder': True, 'encoder_num_feat': 8, 'encoder_num_block': 2,
                          'encoder_num_grow_ch': 4},
            'network_d': {'type': 'SRDDGANDiscriminator', 'num_feat': 8, 'image_size': 32, 't_emb_dim': 16}}
