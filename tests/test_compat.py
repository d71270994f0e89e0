"""One test per BasicSR 1.4.2 fix in ``srddgan_arch.compat``; each fails when its fix is not applied."""
import datetime
import importlib
import subprocess
import sys

import pytest
import torch
import yaml
from basicsr.models import build_model
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from conftest import write_paired_images

import srddgan_arch
from srddgan_arch import compat, run_start


@pytest.mark.slow
def test_import_basicsr_in_a_fresh_interpreter():
    """``import srddgan_arch`` then ``import basicsr`` works with torchvision 0.29 (no functional_tensor)."""
    code = 'import srddgan_arch, basicsr.data.degradations as d; print(d.rgb_to_grayscale.__module__)'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'torchvision.transforms' in result.stdout


def test_import_twice_registers_once():
    """Re-importing the package neither raises "already registered" nor changes the registries."""
    before = {name: set(registry._obj_map) for name, registry in
              [('arch', ARCH_REGISTRY), ('model', MODEL_REGISTRY), ('data', DATASET_REGISTRY),
               ('loss', LOSS_REGISTRY), ('metric', METRIC_REGISTRY)]}
    importlib.reload(srddgan_arch)
    srddgan_arch.import_plugin_modules()
    after = {name: set(registry._obj_map) for name, registry in
             [('arch', ARCH_REGISTRY), ('model', MODEL_REGISTRY), ('data', DATASET_REGISTRY),
              ('loss', LOSS_REGISTRY), ('metric', METRIC_REGISTRY)]}
    assert before == after


@pytest.mark.parametrize('argv, expected', [
    (['-opt', 'x.yml', '--local-rank=1'], ['-opt', 'x.yml', '--local_rank=1']),
    (['--local-rank', '0', '-opt', 'x.yml'], ['--local_rank', '0', '-opt', 'x.yml']),
    (['-opt', 'x.yml', '--auto_resume'], ['-opt', 'x.yml', '--auto_resume']),
])
def test_local_rank_spelling(argv, expected):
    """``python -m torch.distributed.launch`` passes ``--local-rank=N``, which BasicSR's argparse rejects."""
    assert compat.normalise_launcher_argv(argv) == expected


def test_parse_options_accepts_local_rank_and_defaults_val_suffix(tmp_path, monkeypatch):
    """parse_options takes ``--local-rank=0`` and fills ``val.suffix`` (SRModel reads it unguarded)."""
    option_file = tmp_path / 'o.yml'
    option_file.write_text(yaml.safe_dump({
        'name': 'x', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0, 'datasets': {},
        'path': {}, 'val': {'save_img': True}}))
    monkeypatch.setattr(sys, 'argv', ['test.py', '-opt', str(option_file), '--local-rank=0'])
    opt, args = run_start.parse_options(str(tmp_path), is_train=False)
    assert args.local_rank == 0
    assert opt['val']['suffix'] is None


@pytest.mark.parametrize('yaml_backend, expected', [(None, 'gloo'), ('gloo', 'gloo'), ('mpi', 'mpi')])
def test_pytorch_launcher_backend(tmp_path, monkeypatch, yaml_backend, expected):
    """The pytorch launcher honours ``dist_params.backend`` and uses gloo without CUDA (BasicSR: always nccl)."""
    option_file = tmp_path / 'o.yml'
    dist_params = {'backend': yaml_backend} if yaml_backend else {}
    option_file.write_text(yaml.safe_dump({
        'name': 'x', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0, 'datasets': {},
        'path': {}, 'dist_params': dist_params}))
    seen = {}
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.distributed, 'init_process_group', lambda backend, **kw: seen.update(backend=backend))
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: False)
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(option_file), '--launcher', 'pytorch'])
    run_start.parse_options(str(tmp_path), is_train=False)
    assert seen['backend'] == expected


@pytest.mark.parametrize('launcher', ['pytorch', 'slurm'])
def test_dist_params_timeout_reaches_init_process_group(tmp_path, monkeypatch, launcher):
    """``dist_params.timeout`` (seconds) is the process group's timeout with both launchers: rank 0 validating
    longer than NCCL's default 10 minutes no longer ends the run."""
    option_file = tmp_path / 'o.yml'
    option_file.write_text(yaml.safe_dump({
        'name': 'x', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0, 'datasets': {},
        'path': {}, 'dist_params': {'backend': 'gloo', 'port': 29500, 'timeout': 5400}}))
    seen = {}
    monkeypatch.setattr(torch.distributed, 'init_process_group', lambda backend, **kw: seen.update(kw))
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: False)
    monkeypatch.setattr(compat, '_slurm_environment', lambda port: None)
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(option_file), '--launcher', launcher])
    run_start.parse_options(str(tmp_path), is_train=False)
    assert seen['timeout'] == datetime.timedelta(seconds=5400)


def test_init_dist_rejects_unknown_launcher():
    """An unknown launcher names the valid ones."""
    with pytest.raises(ValueError, match='none, pytorch or slurm'):
        compat.init_dist('mpirun')


def test_filter2d_after_diffjpeg_on_cpu():
    """DiffJPEG then filter2D on CPU: the channels-last JPEG output made BasicSR's ``view`` raise."""
    from basicsr.utils import DiffJPEG, USMSharp
    from basicsr.utils.img_process_util import filter2D

    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 16)
    jpeg = DiffJPEG(differentiable=False)(images, quality=torch.tensor([50.0, 80.0]))
    kernels = torch.rand(2, 5, 5)
    kernels /= kernels.sum(dim=(1, 2), keepdim=True)
    blurred = filter2D(jpeg, kernels)
    assert blurred.shape == images.shape
    # a constant image stays constant under a normalised kernel
    flat = filter2D(torch.full((1, 3, 9, 9), 0.5).to(memory_format=torch.channels_last), kernels[:1])
    assert torch.allclose(flat, torch.full_like(flat, 0.5), atol=1e-6)
    assert USMSharp(radius=3)(images).shape == images.shape


def test_realesrgan_model_on_cpu():
    """BasicSR's RealESRGANModel builds on CPU and its training-pair pool lives on the model's device."""
    opt = {
        'name': 'x', 'model_type': 'RealESRGANModel', 'scale': 4, 'num_gpu': 0, 'is_train': False, 'dist': False,
        'queue_size': 4, 'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4,
                                       'num_block': 1, 'num_grow_ch': 4},
        'path': {'pretrain_network_g': None}, 'rank': 0, 'world_size': 1,
    }
    model = build_model(opt)
    assert [b.device.type for b in model.usm_sharpener.buffers()] == ['cpu']
    model.lq, model.gt = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16)
    model._dequeue_and_enqueue()
    assert model.queue_lr.device.type == 'cpu' and model.queue_ptr == 2


def test_cpu_resume_state_loads(tmp_path):
    """load_resume_state on a CPU-only machine (BasicSR calls torch.cuda.current_device())."""
    state_dir = tmp_path / 'experiments' / 'x' / 'training_states'
    state_dir.mkdir(parents=True)
    torch.save({'iter': 7, 'epoch': 1, 'optimizers': [], 'schedulers': []}, state_dir / '7.state')
    opt = {'auto_resume': True, 'root_path': str(tmp_path), 'name': 'x',
           'path': {'resume_state': None, 'models': str(tmp_path / 'models')}}
    state = compat.load_resume_state(opt)
    assert state['iter'] == 7 and opt['path']['resume_state'].endswith('7.state')


def test_explicit_resume_state_must_be_complete(tmp_path):
    """``path.resume_state`` naming an unreadable file is an error naming the key and the file."""
    bad = tmp_path / '3.state'
    bad.write_bytes(b'not a checkpoint')
    opt = {'auto_resume': False, 'root_path': str(tmp_path), 'name': 'x', 'path': {'resume_state': str(bad)}}
    with pytest.raises(ValueError, match='path.resume_state'):
        compat.load_resume_state(opt)


def test_paired_image_dataset_names_and_skips_a_corrupt_image(tmp_path):
    """``type: PairedImageDataset`` (every shipped option file) names a corrupt training image (BasicSR: "'NoneType'
    object has no attribute 'astype'") and skips it with ``skip_bad_images: true``."""
    from basicsr.data import build_dataset

    hr_dir, lr_dir = write_paired_images(str(tmp_path), num_images=2)
    with open(f'{hr_dir}/001.png', 'r+b') as f:
        f.truncate(40)
    opt = {'name': 'train', 'type': 'PairedImageDataset', 'dataroot_gt': hr_dir, 'dataroot_lq': lr_dir,
           'io_backend': {'type': 'disk'}, 'phase': 'train', 'scale': 4, 'gt_size': 32, 'use_hflip': True,
           'use_rot': True}
    with pytest.raises(ValueError, match=r'001\.png.*cannot be decoded.*skip_bad_images'):
        build_dataset(opt)[1]
    assert build_dataset(dict(opt, skip_bad_images=True))[1]['gt_path'] == f'{hr_dir}/000.png'


def test_basicsr_models_keep_their_own_methods():
    """Importing srddgan patches only the fixes: BasicSR's optimiser choice, checkpoint writing, resume and
    validation stay BasicSR's own (srddgan's models override them in their classes)."""
    from basicsr.models.base_model import BaseModel
    from basicsr.models.sr_model import SRModel

    for cls, name in ((BaseModel, 'get_optimizer'), (BaseModel, 'save_network'), (BaseModel, 'save_training_state'),
                      (BaseModel, 'resume_training'), (SRModel, 'nondist_validation')):
        assert getattr(cls, name).__module__.startswith('basicsr.'), name


def test_loader_workers_ignore_stop_signals():
    """BasicSR's loader worker_init_fn makes the worker ignore SIGTERM and SIGUSR1 (PyTorch's workers die of a
    signal sent to the process group), and still seeds numpy as BasicSR does (seed + worker id)."""
    import signal

    import basicsr.data
    import numpy as np
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        basicsr.data.worker_init_fn(1, num_workers=2, rank=0, seed=5)
        assert all(signal.getsignal(signum) == signal.SIG_IGN for signum in previous)
        drawn = np.random.rand()
        np.random.seed(6)
        assert drawn == np.random.rand()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
