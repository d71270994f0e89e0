"""Tests of srddgan_arch.export (``srddgan-export``): safetensors files with the trained schedule, which inference,
the schedule guard and BasicSR's test pipeline (``pretrain_network_g``) load like the checkpoint."""
import json
import os
import re

import pytest
import torch
import yaml
from basicsr.models import build_model
from conftest import tiny_srddgan_options
from safetensors import safe_open

from srddgan_arch.commands.export import main
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.upsampler import build_upsampler

TINY_SRDDGAN = dict(type='SRDDGANUNet', scale=2, image_size=16, num_feat=8, ch_mult=[1, 2], num_res_blocks=1,
                    attn_resolutions=[], z_dim=4, num_mapping_layers=1, lr_encoder=False)


def write_checkpoint(tmp_path, recorded_steps, network=TINY_SRDDGAN):
    """An option file with T = 2 and a training checkpoint (params and params_ema differ) recording
    T = recorded_steps (None: no record): (option file, checkpoint, params_ema)."""
    torch.manual_seed(0)
    opt_path, model_path = tmp_path / 'g.yml', tmp_path / 'net_g_latest.pth'
    opt_path.write_text(yaml.safe_dump({'network_g': network, 'diffusion': {'num_timesteps': 2}}))
    ema = build_network(network).state_dict()
    checkpoint = {'params': build_network(network).state_dict(), 'params_ema': ema}
    if recorded_steps is not None:
        checkpoint['diffusion'] = {'num_timesteps': recorded_steps, 'beta_min': 0.1, 'beta_max': 20.0}
    torch.save(checkpoint, model_path)
    return str(opt_path), str(model_path), ema


def export(opt_path, model_path, output, *extra):
    """``srddgan-export --safetensors`` -> exit code (usage errors: their SystemExit code)."""
    try:
        return main(['--safetensors', '-opt', opt_path, '--model_path', model_path, '-o', str(output), *extra])
    except SystemExit as error:
        return error.code


@pytest.mark.parametrize('recorded_steps, exported_steps', [(3, 3), (None, 2)])
def test_export_writes_params_ema_and_the_trained_schedule(tmp_path, recorded_steps, exported_steps):
    """The file holds params_ema exactly and, as metadata, the schedule the checkpoint recorded (else the option
    file's) and the network definition."""
    opt_path, model_path, ema = write_checkpoint(tmp_path, recorded_steps)
    assert export(opt_path, model_path, tmp_path / 'g.safetensors') == 0
    with safe_open(str(tmp_path / 'g.safetensors'), framework='pt') as f:
        metadata = f.metadata()
        assert set(f.keys()) == set(ema) and all(torch.equal(f.get_tensor(k), v) for k, v in ema.items())
    assert metadata['param_key'] == 'params_ema' and json.loads(metadata['network_g']) == TINY_SRDDGAN
    assert json.loads(metadata['diffusion']) == {'num_timesteps': exported_steps, 'beta_min': 0.1, 'beta_max': 20.0}


def test_export_samples_as_its_checkpoint_with_the_same_schedule_guard(tmp_path):
    """Inference from the export gives the checkpoint's images (same seed); its recorded T is enforced as the
    checkpoint's is (an option file with another T is refused without force_steps)."""
    opt_path, model_path, _ = write_checkpoint(tmp_path, 2)
    export(opt_path, model_path, tmp_path / 'g.safetensors')
    lq = torch.rand(1, 3, 8, 8)
    expected = build_upsampler(opt_path, model_path, device='cpu').upsample_tensor(lq, seed=5)
    exported = build_upsampler(opt_path, str(tmp_path / 'g.safetensors'), device='cpu')
    assert exported.schedule.num_timesteps == 2 and torch.equal(exported.upsample_tensor(lq, seed=5), expected)
    with pytest.raises(ValueError, match=r'num_timesteps 3 \(trained: 2\).*--force_steps'):
        build_upsampler(opt_path, str(tmp_path / 'g.safetensors'), steps=3, device='cpu')


def test_test_pipeline_loads_an_export_as_pretrain_network_g(tmp_path):
    """``path.pretrain_network_g: G.safetensors`` loads into SRDDGANModel's generator (BasicSR's test pipeline)."""
    opt = tiny_srddgan_options(tmp_path, is_train=False)
    opt_path, model_path, ema = write_checkpoint(tmp_path, 2, network=opt['network_g'])
    export(opt_path, model_path, tmp_path / 'g.safetensors')
    opt['path'].update(pretrain_network_g=str(tmp_path / 'g.safetensors'), param_key_g='params_ema')
    opt['diffusion'] = {'num_timesteps': 2}
    model = build_model(opt)
    assert all(torch.equal(model.net_g.state_dict()[k], v) for k, v in ema.items())


@pytest.mark.parametrize('case, output, extra, message', [
    ('exists', 'old.safetensors', [], r'-o .*old\.safetensors exists; give --overwrite'),
    ('ending', 'g.pt', [], r'a safetensors file must end in \.safetensors'),
    ('input', 'net_g_latest.pth', ['--overwrite'], r'is the input --model_path'),
])
def test_export_refuses_outputs_before_reading_the_checkpoint(tmp_path, capsys, case, output, extra, message):
    """An existing output (without --overwrite), a wrong ending or the input itself: a usage error, nothing written."""
    opt_path, model_path, _ = write_checkpoint(tmp_path, 2)
    (tmp_path / 'old.safetensors').write_bytes(b'old')
    before = sorted(os.listdir(tmp_path))
    assert export(opt_path, model_path, tmp_path / output, *extra) == 2
    assert sorted(os.listdir(tmp_path)) == before and (tmp_path / 'old.safetensors').read_bytes() == b'old'
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert export(opt_path, model_path, tmp_path / 'old.safetensors', '--overwrite') == 0


def test_export_with_the_wrong_option_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    """Weights that do not fit the option file's network_g: exit 1, one line naming the network, no file left."""
    opt_path, model_path, _ = write_checkpoint(tmp_path, 2)
    other = tmp_path / 'wide.yml'
    other.write_text(yaml.safe_dump({'network_g': dict(TINY_SRDDGAN, num_feat=16)}))
    assert export(str(other), model_path, tmp_path / 'g.safetensors') == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and len(err) < 800, err
    assert 'net_g_latest.pth does not fit network_g' in err and 'wide.yml' in err and 'of another shape' in err, err
    assert not any(name.startswith('g.safetensors') for name in os.listdir(tmp_path))
