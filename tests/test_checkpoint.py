"""Weight files found or downloaded as torchvision does (locate_weights, fetch_weights) and checkpoints (.pth,
.safetensors, http(s) addresses) loaded without code."""
import hashlib
import re
import sys

import pytest
import torch
import yaml
from basicsr.utils import options as basicsr_options
from conftest import TINY_RRDB, write_tiny_rrdb

from srddgan_arch import run_start
from srddgan_arch.commands.infer import main as infer_main
from srddgan_arch.inference.loading import build_network
from srddgan_arch.utils import download as downloader
from srddgan_arch.utils.checkpoint import download_weights, load_checkpoint, locate_weights

URL = 'https://example.org/weights/net-0123abcd.pth'


def forbid_download(*args, **kwargs):
    raise AssertionError('nothing may be downloaded here')


def test_explicit_path_is_used_and_never_downloaded(tmp_path, monkeypatch):
    """A given path is returned as it is; a missing one is an error naming the option, without a download."""
    monkeypatch.setattr(downloader, 'download_url_to_file', forbid_download)
    path = tmp_path / 'mine.pth'
    path.write_bytes(b'x')
    assert locate_weights('net-0123abcd.pth', str(path), url=URL) == str(path)
    with pytest.raises(FileNotFoundError, match="--weights '.*nothing.pth' does not exist; expected net-0123abcd.pth"):
        locate_weights('net-0123abcd.pth', str(tmp_path / 'nothing.pth'), url=URL, option='--weights')


def test_download_checks_the_hash_prefix_of_the_name(tmp_path, monkeypatch):
    """A missing file is downloaded into the folder (created) with the file name's hash prefix checked."""
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        torch.save({}, dst)

    monkeypatch.setattr(downloader, 'download_url_to_file', download)
    folder = tmp_path / 'cache' / 'checkpoints'
    assert locate_weights('net-0123abcd.pth', folder=str(folder), url=URL) == str(folder / 'net-0123abcd.pth')
    assert calls == [(URL, str(folder / 'net-0123abcd.pth'), '0123abcd')]
    assert load_checkpoint(str(folder / 'net-0123abcd.pth')) == {}


def test_failed_download_is_named(tmp_path, monkeypatch):
    """A wrong hash (the downloader's DownloadError) is reported with the file, the folder and where to get it."""
    def corrupt(url, dst, hash_prefix=None, progress=True):
        raise downloader.DownloadError(f'wrong SHA-256: ffff..., the name says {hash_prefix}')

    monkeypatch.setattr(downloader, 'download_url_to_file', corrupt)
    with pytest.raises(FileNotFoundError) as error:
        locate_weights('net-0123abcd.pth', folder=str(tmp_path), what='Net', url=URL)
    assert str(error.value) == (f'Net: net-0123abcd.pth not found in {tmp_path} and downloading it failed (wrong '
                                f'SHA-256: ffff..., the name says 0123abcd). Copy it there (from {URL}) or give '
                                'its path with pretrained_path.')


def test_without_url_nothing_is_downloaded(tmp_path, monkeypatch):
    """Files without a download address (e.g. Inception, facexlib) are only looked up."""
    monkeypatch.setattr(downloader, 'download_url_to_file', forbid_download)
    with pytest.raises(FileNotFoundError, match='nothing is downloaded here. Copy it there .from a release page.'):
        locate_weights('net.pth', folder=str(tmp_path), source='a release page')


def test_url_weights_are_downloaded_once_into_torch_hub(hub_dir, monkeypatch, trusted_hashes):
    """An http(s) address is downloaded into torch.hub's checkpoint folder with its name's hash prefix checked, and
    found there the next time without a download."""
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        torch.save({'params_ema': {'w': torch.ones(2)}}, dst)

    monkeypatch.setattr(downloader, 'download_url_to_file', download)
    for _ in range(2):
        assert torch.equal(load_checkpoint(URL)['params_ema']['w'], torch.ones(2))
    assert calls == [(URL, str(hub_dir / 'net-0123abcd.pth'), '0123abcd')]


@pytest.mark.parametrize('name, prefix', [('net_g_latest.pth', None), ('model-0.1.pth', None),
                                          ('net-0123abcdef.pth', '0123abcdef')])
def test_only_eight_or_more_hex_digits_are_a_hash_prefix(tmp_path, monkeypatch, name, prefix):
    """torchvision's convention, NAME-<first 8+ hex digits of the SHA-256>.ext; other names are not checked."""
    calls = []
    monkeypatch.setattr(downloader, 'download_url_to_file', lambda url, dst, hash_prefix, progress: calls.append(
        hash_prefix))
    download_weights(f'https://example.org/{name}', str(tmp_path / name))
    assert calls == [prefix]


def test_offline_address_is_one_line_naming_it(hub_dir):
    """Without network (the tests' downloader fails as offline) the error names what, the address and what to do."""
    with pytest.raises(OSError) as error:
        load_checkpoint(URL, what='Model weights (--model_path)')
    assert str(error.value) == (f'Model weights (--model_path): downloading {URL} failed (no network in the tests: '
                                f'{URL}); check the address and the network, or download the file yourself and give '
                                'its path.')
    assert not hub_dir.exists() or not any(hub_dir.iterdir())


def test_option_file_addresses_are_replaced_by_their_downloads(hub_dir, monkeypatch, trusted_hashes):
    """``path.pretrain_network_*`` addresses become the downloaded files when BasicSR's parse_options (as srddgan
    replaces it) has read the file, before the checks look for them; local paths and other keys stay."""
    monkeypatch.setattr(downloader, 'download_url_to_file', lambda url, dst, hash_prefix, progress: torch.save({}, dst))
    path_opt = {'pretrain_network_g': URL, 'pretrain_network_d': 'd.pth', 'resume_state': None,
                'visualization': 'https://example.org/not-weights'}
    monkeypatch.setattr(basicsr_options, 'parse_options', lambda root_path, is_train: ({'path': path_opt}, None))
    monkeypatch.setattr(sys, 'argv', ['test.py'])
    assert run_start.parse_options('.', is_train=False)[0]['path'] == {
        'pretrain_network_g': str(hub_dir / 'net-0123abcd.pth'), 'pretrain_network_d': 'd.pth', 'resume_state': None,
        'visualization': 'https://example.org/not-weights'}


def test_safetensors_load_as_a_checkpoint_without_unpickling(tmp_path):
    """A .safetensors file with srddgan's metadata loads as {param_key: tensors, 'diffusion': schedule}; without it
    as a bare state dict; a garbled one is one error naming the file."""
    from safetensors.torch import save_file
    tensors = {'conv.weight': torch.arange(6.).view(2, 3)}
    save_file(tensors, tmp_path / 'g.safetensors',
              metadata={'param_key': 'params_ema', 'diffusion': '{"num_timesteps": 2, "beta_min": 0.1}'})
    checkpoint = load_checkpoint(str(tmp_path / 'g.safetensors'))
    assert checkpoint.keys() == {'params_ema', 'diffusion'} and checkpoint['diffusion']['num_timesteps'] == 2
    assert torch.equal(checkpoint['params_ema']['conv.weight'], tensors['conv.weight'])
    save_file(tensors, tmp_path / 'bare.safetensors')
    assert load_checkpoint(str(tmp_path / 'bare.safetensors')).keys() == {'conv.weight'}
    (tmp_path / 'cut.safetensors').write_bytes((tmp_path / 'g.safetensors').read_bytes()[:40])
    with pytest.raises(ValueError, match=r'Checkpoint .*cut\.safetensors is not a readable safetensors file'):
        load_checkpoint(str(tmp_path / 'cut.safetensors'))


@pytest.mark.slow
def test_weights_from_a_local_http_server(http_folder, hub_dir):
    """Served over HTTP: a checkpoint whose name carries its hash prefix downloads once; a wrong prefix, a missing
    file are one error each and leave nothing in the cache."""
    folder, base, served = http_folder
    torch.save({'params': {'w': torch.ones(3)}}, folder / 'net.pth')
    sha = hashlib.sha256((folder / 'net.pth').read_bytes()).hexdigest()
    (folder / f'net-{sha[:8]}.pth').write_bytes((folder / 'net.pth').read_bytes())
    (folder / 'net-00000000.pth').write_bytes((folder / 'net.pth').read_bytes())
    for _ in range(2):
        assert torch.equal(load_checkpoint(f'{base}/net-{sha[:8]}.pth')['params']['w'], torch.ones(3))
    assert served == [f'/net-{sha[:8]}.pth']
    with pytest.raises(OSError, match=r'downloading .*/net-00000000\.pth failed \(wrong SHA-256'):
        load_checkpoint(f'{base}/net-00000000.pth')
    with pytest.raises(OSError, match=r'downloading .*/missing\.pth failed \(HTTP Error 404: File not found\)'):
        load_checkpoint(f'{base}/missing.pth')
    assert sorted(p.name for p in hub_dir.iterdir()) == [f'net-{sha[:8]}.pth']


@pytest.mark.parametrize('case, message', [
    ('other width', r'net\.pth does not fit network_g of .*wide\.yml: \d+ of another shape \(conv_first\.weight '
                    r'\(8, 3, 3, 3\) for \(16, 3, 3, 3\)'),
    ('other network', r'net\.pth does not fit network_g of .*wide\.yml: 60 weights missing \(body\.1\.'),
    ('nan', r'net\.pth: 1 weight tensors hold NaN or inf \(conv_last\.bias\): a diverged run'),
])
def test_weights_that_do_not_fit_or_are_not_finite_are_one_short_line(tmp_path, capsys, case, message):
    """Weights of another width or network (PyTorch's error lists every key: kilobytes on one line) and weights
    holding NaN (which gave an all-black image, exit 0) are one short error naming the checkpoint and option file."""
    image = tmp_path / 'x.ppm'
    image.write_bytes(b'P6 4 4 255\n' + bytes(48))
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    wide = dict(TINY_RRDB, num_feat=16 if case == 'other width' else 8)
    if case == 'other network':
        wide['num_block'] = 3
    (tmp_path / 'wide.yml').write_text(yaml.safe_dump({'network_g': wide}))
    if case == 'nan':
        state = build_network(TINY_RRDB).state_dict()
        state['conv_last.bias'][0] = float('nan')
        torch.save({'params_ema': state}, model_path)
        (tmp_path / 'wide.yml').write_text(yaml.safe_dump({'network_g': TINY_RRDB}))
    code = infer_main(['-i', str(image), '-o', str(tmp_path / 'out'), '-opt', str(tmp_path / 'wide.yml'),
                       '--model_path', model_path, '--device', 'cpu'])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and len(err) < 600, err
    assert re.search(message, err), err


def test_training_loads_refuse_weights_of_another_width_in_one_line(tmp_path):
    """path.pretrain_network_g (and a resume's networks) of another width: one CheckpointError naming the file
    (srddgan-train prints it as one line, exit 2), not PyTorch's 190-line key list."""
    from basicsr.models import build_model
    from conftest import tiny_srddgan_options

    from srddgan_arch.utils.checkpoint import CheckpointError

    opt = tiny_srddgan_options(tmp_path)
    model = build_model(opt)
    wide = build_network(dict(opt['network_g'], num_feat=16))
    torch.save({'params': wide.state_dict()}, tmp_path / 'wide.pth')
    with pytest.raises(CheckpointError) as error:
        model.load_network(model.net_g, str(tmp_path / 'wide.pth'), strict=True)
    message = str(error.value)
    assert 'wide.pth does not fit the SRDDGANUNet of the option file' in message and len(message) < 600, message
