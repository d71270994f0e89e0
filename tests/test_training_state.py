"""Training states (srddgan_arch.utils.training_state) and what srddgan's models add to BasicSR's: any optimiser,
atomic checkpoints, the resumed epoch's position, the baseline model whose metrics see the LR image."""
import os
import random
import subprocess
from os import path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from basicsr.models import build_model
from basicsr.models.base_model import BaseModel
from basicsr.utils import dist_util, get_root_logger
from conftest import RunsCommand, tiny_srddgan_options
from packaging.requirements import Requirement

from srddgan_arch.models.training_mixin import TrainingMixin
from srddgan_arch.utils import training_state
from srddgan_arch.utils.checkpoint import load_checkpoint
from srddgan_arch.utils.training_state import ResumableSampler, ResumePosition


@pytest.mark.parametrize('name, expected', [('AdamW', torch.optim.AdamW), ('SGD', torch.optim.SGD),
                                            ('Adam', torch.optim.Adam)])
def test_any_torch_optimiser_by_name(name, expected):
    """``optim_g: {type: AdamW}`` works in srddgan's models (BasicSR 1.4.2 only knows Adam)."""
    optimizer = TrainingMixin.get_optimizer(None, name, [torch.nn.Parameter(torch.zeros(1))], 1e-3)
    assert type(optimizer) is expected


def test_unknown_optimiser_is_named():
    """A misspelt optimiser name is reported with the name."""
    with pytest.raises(NotImplementedError, match="'AdamX'"):
        TrainingMixin.get_optimizer(None, 'AdamX', [torch.nn.Parameter(torch.zeros(1))], 1e-3)


def test_auto_resume_skips_truncated_state(tmp_path):
    """A truncated newest state (a run killed while a non-atomic saver wrote it) is skipped for the previous one."""
    training_state.atomic_torch_save({'iter': 5}, tmp_path / '5.state')
    training_state.atomic_torch_save({'iter': 10, 'payload': torch.zeros(1000)}, tmp_path / '10.state')
    with open(tmp_path / '10.state', 'r+b') as f:
        f.truncate(100)
    path, state = training_state.latest_resume_state(str(tmp_path))
    assert osp.basename(path) == '5.state' and state['iter'] == 5


def test_atomic_save_never_leaves_a_partial_file(tmp_path, monkeypatch):
    """A save that fails midway leaves neither the target nor a temporary file behind."""
    def failing_save(obj, f):
        f.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', failing_save)
    with pytest.raises(OSError, match='disk full'):
        training_state.atomic_torch_save({'a': 1}, str(tmp_path / 'net_g_1.pth'))
    assert os.listdir(tmp_path) == []


def test_rng_states_round_trip():
    """Saved random states restore python, numpy and torch streams exactly."""
    states = training_state.get_rng_states()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    training_state.set_rng_states(states)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def _draws(states):
    """What the python, numpy and torch streams of ``states`` draw first (this process's states are kept)."""
    current = training_state.get_rng_states()
    training_state.set_rng_states(states)
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    training_state.set_rng_states(current)
    return draws


def test_each_rank_resumes_its_own_random_states(tmp_path, monkeypatch, caplog):
    """A training state holds one entry of random states per rank and each rank restores its own; a state saved
    by fewer processes warns and gives the ranks it lacks new streams (not another rank's, not those of the
    run's seed at iteration 0); an older state (one dict: rank 0's) restores on rank 0."""
    saved = [training_state.seeded_rng_states(seed) for seed in (10, 11)]
    for rank in (0, 1):
        assert _draws(training_state.rank_rng_states(saved, rank, seed=10, current_iter=8)) == _draws(saved[rank])
    assert _draws(training_state.rank_rng_states(saved[0], 0, seed=10, current_iter=8)) == _draws(saved[0])
    new = _draws(training_state.rank_rng_states(saved, 2, seed=10, current_iter=8))
    assert new not in [_draws(states) for states in saved + [training_state.seeded_rng_states(12)]]

    model = build_model(tiny_srddgan_options(tmp_path))
    monkeypatch.setitem(model.opt, 'world_size', 3)
    monkeypatch.setattr(ResumableSampler, 'pending', None)
    get_root_logger().propagate = True
    model.resume_training({'epoch': 0, 'iter': 8, 'optimizers': [o.state_dict() for o in model.optimizers],
                           'schedulers': [], 'rng': saved})
    assert 'Resuming 3 processes from a training state with the random states of 2' in caplog.text
    assert _draws(ResumableSampler.pending.rng) == _draws(saved[0])


def test_only_rank_0_writes_files(tmp_path, monkeypatch):
    """On another rank save() writes nothing (BasicSR's save_network is rank 0's only; an override must stay so):
    eight GPUs wrote every checkpoint eight times to the same paths."""
    model = build_model(tiny_srddgan_options(tmp_path))
    for folder in ('models', 'states'):
        os.makedirs(tmp_path / folder)
    monkeypatch.setattr(dist_util, 'get_dist_info', lambda: (1, 2))
    monkeypatch.setitem(model.opt, 'rank', 1)
    model.save(0, 1)
    assert os.listdir(tmp_path / 'models') == os.listdir(tmp_path / 'states') == []
    monkeypatch.setattr(dist_util, 'get_dist_info', lambda: (0, 2))
    monkeypatch.setitem(model.opt, 'rank', 0)
    model.save(0, 1)
    assert sorted(os.listdir(tmp_path / 'models')) == ['net_d_1.pth', 'net_g_1.pth']
    assert len(torch.load(tmp_path / 'states' / '1.state', weights_only=True)['rng']) == 1


def test_resumed_epoch_skips_consumed_batches_once(monkeypatch):
    """After a resume at iteration 4, in epoch 1 (3 batches of 2 per epoch), the sampler's next epoch starts at its
    second batch with the saved random states; the epoch after that is whole."""
    monkeypatch.setattr(ResumableSampler, 'pending', None)
    sampler = ResumableSampler(list(range(6)), num_replicas=1, rank=0)
    sampler.set_epoch(1)
    whole = list(sampler)
    states = training_state.get_rng_states()
    expected = torch.rand(1)
    ResumableSampler.resume_from(ResumePosition(epoch=1, iter=4, batch_size=2, rng=states))
    assert list(sampler) == whole[2:] and torch.equal(torch.rand(1), expected)
    assert list(sampler) == whole


def test_baseline_model_scores_lr_psnr(tmp_path):
    """SRBaselineModel (SRModel for RRDB/ESRGAN) passes the LR image to its metrics: LR-PSNR through validation."""
    opt = {'name': 'baseline', 'model_type': 'SRBaselineModel', 'scale': 4, 'num_gpu': 0, 'is_train': False,
           'dist': False, 'rank': 0, 'world_size': 1,
           'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4, 'num_block': 1,
                         'num_grow_ch': 4},
           'path': {'pretrain_network_g': None, 'visualization': str(tmp_path / 'visualization')},
           'val': {'metrics': {'lr_psnr': {'type': 'calculate_lr_psnr'}}}}
    model = build_model(opt)
    loader = [{'lq': torch.rand(1, 3, 8, 8), 'gt': torch.rand(1, 3, 32, 32), 'lq_path': ['a.png']}]
    loader = type('Loader', (list, ), {'dataset': type('Dataset', (), {'opt': {'name': 'tiny'}})()})(loader)
    model.validation(loader, current_iter=0, tb_logger=None, save_img=True)
    assert np.isfinite(model.metric_results['lr_psnr'])
    assert os.listdir(tmp_path / 'visualization' / 'tiny') == ['a_baseline.png']


def install_requires():
    """The ``dependencies`` of pyproject.toml."""
    tomllib = pytest.importorskip('tomllib', reason='tomllib is in the standard library from Python 3.11')
    with open(osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'pyproject.toml'), 'rb') as f:
        dependencies = tomllib.load(f)['project']['dependencies']
    return {Requirement(line).name: Requirement(line) for line in dependencies}


def test_basicsr_load_network_runs_no_code_from_a_checkpoint(tmp_path):
    """BasicSR's ``load_network`` calls ``torch.load`` without ``weights_only``: pyproject.toml requires torch >= 2.6,
    where that loads weights only, and a checkpoint reducing to ``os.system`` is refused without running it."""
    torch_requirement = install_requires()['torch']
    assert not torch_requirement.specifier.contains('2.5.1') and torch_requirement.specifier.contains('2.6.0')
    marker = tmp_path / 'PWNED'
    torch.save({'params': RunsCommand(f'touch {marker}')}, tmp_path / 'net_g.pth')
    with pytest.raises(Exception, match='Weights only load failed'):
        BaseModel.load_network(SimpleNamespace(get_bare_model=lambda net: net), torch.nn.Linear(1, 1),
                               str(tmp_path / 'net_g.pth'))
    assert not marker.exists()


@pytest.mark.parametrize('content, message', [
    (b'', r'is empty \(0 bytes\)'),
    (b'not a checkpoint', r'is not a readable torch checkpoint'),
    (None, r'is refused: .*GLOBAL posix\.system'),
])
def test_unloadable_checkpoints_are_named_with_the_reason(tmp_path, content, message):
    """A 0-byte, garbled or code-carrying checkpoint raises one ValueError naming the file and what is wrong."""
    path = tmp_path / 'net_g.pth'
    if content is None:
        torch.save({'params': RunsCommand('true')}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=f'Model weights {path} {message}'):
        load_checkpoint(str(path), what='Model weights')


def test_training_start_removes_stale_temporaries(tmp_path):
    """A training model deletes the temporaries of a process killed while saving, keeps those of live processes
    (they may be saving now) and every checkpoint."""
    dead = subprocess.Popen(['true'])
    dead.wait()
    opt = tiny_srddgan_options(tmp_path)
    models, states = tmp_path / 'models', tmp_path / 'states'
    for folder, name in ((models, f'net_g_4.pth.tmp{dead.pid}'), (states, f'4.state.tmp{dead.pid}'),
                         (models, f'net_g_5.pth.tmp{os.getpid()}'), (models, 'net_g_3.pth'), (states, '3.state')):
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(b'x')
    build_model(opt)
    assert sorted(os.listdir(models)) == ['net_g_3.pth', f'net_g_5.pth.tmp{os.getpid()}']
    assert os.listdir(states) == ['3.state']


def test_a_save_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    """torch.save on a full disk ended in "unexpected pos" naming no file: the error is the disk's (ENOSPC) with the
    file being written, and the previous file is unchanged (written to /dev/full, which answers ENOSPC)."""
    import builtins
    import errno
    path = tmp_path / 'net_g_5.pth'
    training_state.atomic_torch_save({'old': torch.ones(1)}, path)
    monkeypatch.setattr(training_state, 'open', lambda name, mode: builtins.open('/dev/full', mode), raising=False)
    with pytest.raises(OSError) as error:
        training_state.atomic_torch_save({'params': torch.zeros(100_000)}, path)
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
    assert str(error.value) == f"[Errno 28] No space left on device: '{path}'"
    assert torch.load(path, weights_only=True)['old'].item() == 1 and os.listdir(tmp_path) == ['net_g_5.pth']
