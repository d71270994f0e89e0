"""Weight files found or downloaded as torchvision does (locate_weights) and checkpoints loaded without code."""
import pytest
import torch

from srddgan_arch.utils.checkpoint import load_checkpoint, locate_weights

URL = 'https://example.org/weights/net-0123abcd.pth'


def forbid_download(*args, **kwargs):
    raise AssertionError('nothing may be downloaded here')


def test_explicit_path_is_used_and_never_downloaded(tmp_path, monkeypatch):
    """A given path is returned as it is; a missing one is an error naming the option, without a download."""
    monkeypatch.setattr(torch.hub, 'download_url_to_file', forbid_download)
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

    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    folder = tmp_path / 'cache' / 'checkpoints'
    assert locate_weights('net-0123abcd.pth', folder=str(folder), url=URL) == str(folder / 'net-0123abcd.pth')
    assert calls == [(URL, str(folder / 'net-0123abcd.pth'), '0123abcd')]
    assert load_checkpoint(str(folder / 'net-0123abcd.pth')) == {}


def test_failed_download_is_named(tmp_path, monkeypatch):
    """A wrong hash (torch.hub's RuntimeError) is reported with the file, the folder and where to get the file."""
    def corrupt(url, dst, hash_prefix=None, progress=True):
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "ffff")')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', corrupt)
    with pytest.raises(FileNotFoundError) as error:
        locate_weights('net-0123abcd.pth', folder=str(tmp_path), what='Net', url=URL)
    assert str(error.value) == (f'Net: net-0123abcd.pth not found in {tmp_path} and downloading it failed (invalid '
                                f'hash value (expected "0123abcd", got "ffff")). Copy it there (from {URL}) or give '
                                'its path with pretrained_path.')


def test_without_url_nothing_is_downloaded(tmp_path, monkeypatch):
    """Files without a download address (e.g. Inception, facexlib) are only looked up."""
    monkeypatch.setattr(torch.hub, 'download_url_to_file', forbid_download)
    with pytest.raises(FileNotFoundError, match='nothing is downloaded here. Copy it there .from a release page.'):
        locate_weights('net.pth', folder=str(tmp_path), source='a release page')
