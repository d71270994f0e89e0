"""ONNX export (``srddgan-export --onnx``) and ``srddgan-infer --backend onnxruntime`` against the torch backend.

The export and the ONNX Runtime sessions need the ``[onnx]`` extra; the tests that use them skip without it. The
exports take tens of seconds on 2 cores: those tests are marked slow.
"""
import importlib.util
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network

from srddgan_arch.commands import infer
from srddgan_arch.commands.export import main as export_main
from srddgan_arch.option_files import resolve_option_file

ONNX_EXTRA = all(importlib.util.find_spec(name) for name in ('onnxruntime', 'onnx', 'onnxscript'))
needs_onnx = pytest.mark.skipif(not ONNX_EXTRA, reason='the [onnx] extra (onnxruntime, onnx, onnxscript) is not '
                                'installed: pip install -e ".[onnx]" -c constraints.txt')


def _write_generator(folder, option_name, seed=0):
    """A random-weight generator of a packaged option file's network_g: (option file, checkpoint)."""
    with open(resolve_option_file(option_name)) as f:
        opt = yaml.safe_load(f)
    torch.manual_seed(seed)
    model_path = folder / f'{option_name}_{seed}.pth'
    torch.save({'params_ema': build_network(opt['network_g']).state_dict()}, model_path)
    return resolve_option_file(option_name), str(model_path)


def _write_photo(path, height, width):
    """A smooth colour image (random pixels would make the comparison a test of noise)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([np.sin(x / 5) * 90 + 128, np.cos(y / 7) * 90 + 128, (x + y) * 2 % 256], axis=2)
    cv2.imwrite(str(path), img.round().astype(np.uint8))


def _infer(tmp_path, name, opt_path, model_path, *extra):
    output = tmp_path / name
    assert infer.main(['-i', str(tmp_path / 'photo.png'), '-o', str(output), '-opt', opt_path, '--model_path',
                     model_path, '--num_samples', '2', '--seed', '5', '--overwrite', *extra]) == 0
    return [cv2.imread(str(output / f'photo_srddgan_{index}.png')).astype(int) for index in range(2)]


@pytest.mark.parametrize('extra, message', [(['--bf16'], '--bf16 needs --backend torch'),
                                            (['--channels_last'], '--channels_last needs --backend torch'),
                                            (['--device', 'cuda'], '--device cuda needs --backend torch'),
                                            (['-g', '1'], '--device cuda:1 needs --backend torch')])
def test_onnx_backend_refuses_torch_only_options(capsys, extra, message):
    """What only the torch backend does is a one-line usage error before anything is built."""
    with pytest.raises(SystemExit) as exit_info:
        infer.parse_args(['-i', 'x.png', '-opt', 'x.yml', '--model_path', 'x.pth', '--backend', 'onnxruntime', *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_export_onnx_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    """``-o`` of ``--onnx`` is a new or empty folder, checked before the checkpoint is read."""
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'keep.txt').write_text('mine')
    with pytest.raises(SystemExit):
        export_main(['--onnx', '-opt', 'train_SRDDGAN_demo_x4', '--model_path', 'missing.pth', '-o',
                     str(tmp_path / 'out')])
    assert 'give a new or empty one' in capsys.readouterr().err
    assert (tmp_path / 'out' / 'keep.txt').read_text() == 'mine'


@needs_onnx
def test_onnx_backend_exports_a_model_given_by_address_from_its_download(tmp_path, hub_dir, monkeypatch):
    """``--backend onnxruntime --model_path http://...``: the export reads the downloaded file in the cache (it
    failed with "No such file or directory: 'http://...'")."""
    from srddgan_arch.inference import onnx_backend
    from srddgan_arch.utils import download as downloader

    opt_path, model_path = _write_generator(tmp_path, 'train_SRDDGAN_demo_x4')
    _write_photo(tmp_path / 'photo.png', 8, 8)
    monkeypatch.setattr(downloader, 'download_url_to_file', lambda url, dst, hash_prefix, progress: shutil.copy(
        model_path, dst))
    exported = []

    def export(opt, source, onnx_dir, param_key, interpolate, alpha):
        exported.append(source)
        raise ValueError('stopped before exporting')

    monkeypatch.setattr(onnx_backend, 'export_onnx', export)
    code = infer.main(['-i', str(tmp_path / 'photo.png'), '-o', str(tmp_path / 'out'), '-opt', opt_path,
                     '--model_path', 'https://example.org/models/demo.pth', '--backend', 'onnxruntime'])
    assert code == 1 and exported == [str(hub_dir / 'demo.pth')]


@pytest.fixture(scope='module')
def demo_export(tmp_path_factory):
    """A random-weight generator of the demo configuration and its export by ``srddgan-export --onnx`` (tens of
    seconds; shared by the tests that sample it): (option file, checkpoint, export folder)."""
    folder = tmp_path_factory.mktemp('demo_export')
    opt_path, model_path = _write_generator(folder, 'train_SRDDGAN_demo_x4')
    onnx_dir = folder / 'export'
    assert export_main(['--onnx', '-opt', opt_path, '--model_path', model_path, '-o', str(onnx_dir)]) == 0
    return opt_path, model_path, onnx_dir


@needs_onnx
@pytest.mark.slow
def test_demo_model_onnx_backend_gives_the_torch_image(tmp_path, demo_export):
    """The demo configuration, exported by ``srddgan-export --onnx``: its graphs have the documented inputs and
    outputs, and with the same seed ONNX Runtime + numpy give the torch backend's images within 1/255, whole and
    tiled, with the LR-consistent sampler and without."""
    import onnx

    opt_path, model_path, onnx_dir = demo_export
    _write_photo(tmp_path / 'photo.png', 32, 40)  # (with --tile 24: a whole and a partial tile each way)
    step, encoder = onnx.load(str(onnx_dir / 'step.onnx')), onnx.load(str(onnx_dir / 'encoder.onnx'))
    assert [i.name for i in step.graph.input] == ['y_t', 'lq', 't', 'z', 'lr_feats']
    assert [o.name for o in step.graph.output] == ['y0']
    assert [i.name for i in encoder.graph.input] == ['lq'] and [o.name for o in encoder.graph.output] == ['lr_feats']
    manifest = json.loads((onnx_dir / 'srddgan_onnx.json').read_text())
    assert manifest['scale'] == 4 and manifest['lr_consistency']['downsampler'] == 'bicubic'
    for extra in ([], ['--tile', '24', '--tile_pad', '4'], ['--lr_consistency', 'none']):
        torch_images = _infer(tmp_path, 'sr_torch', opt_path, model_path, '--device', 'cpu', *extra)
        onnx_images = _infer(tmp_path, 'sr_onnx', opt_path, model_path, '--backend', 'onnxruntime', '--onnx_dir',
                             str(onnx_dir), *extra)
        for torch_image, onnx_image in zip(torch_images, onnx_images, strict=True):
            assert torch_image.shape == (128, 160, 3) and np.abs(torch_image - onnx_image).max() <= 1, extra
    # a deployment without torch: srddgan_runtime with torch made unimportable gives the torch backend's image
    code = ('import sys; sys.modules["torch"] = None; import cv2, numpy as np; from srddgan_runtime import '
            f'OnnxUpsampler; img = cv2.imread({str(tmp_path / "photo.png")!r}).astype(np.float32) / 255; '
            f'np.save({str(tmp_path / "runtime.npy")!r}, OnnxUpsampler({str(onnx_dir)!r}).enhance(img, seed=5))')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=tmp_path)
    runtime_image = np.clip(np.load(tmp_path / 'runtime.npy') * 255, 0, 255).round()
    torch_image = _infer(tmp_path, 'sr_torch', opt_path, model_path, '--device', 'cpu')[0]
    assert np.abs(runtime_image - torch_image).max() <= 1


@needs_onnx
@pytest.mark.slow
def test_paper_size_model_onnx_backend_gives_the_torch_image(tmp_path, hub_dir):
    """The paper's DIV2K x4 generator (39 M parameters, attention at 16 px) at a small size: exported into
    torch.hub's cache folder on first use (never beside the input or into -o), the same image as torch within
    1/255; the second run reuses the export."""
    opt_path, model_path = _write_generator(tmp_path, 'train_SRDDGAN_DIV2K_x4')
    _write_photo(tmp_path / 'photo.png', 32, 32)
    torch_images = _infer(tmp_path, 'sr_torch', opt_path, model_path, '--device', 'cpu')
    onnx_images = _infer(tmp_path, 'sr_onnx', opt_path, model_path, '--backend', 'onnxruntime')
    for torch_image, onnx_image in zip(torch_images, onnx_images, strict=True):
        assert torch_image.shape == (128, 128, 3) and np.abs(torch_image - onnx_image).max() <= 1
    graphs = sorted(tmp_path.rglob('step.onnx'))
    assert len(graphs) == 1 and graphs[0].parent.parent == hub_dir.parent / 'srddgan_onnx'
    assert _infer(tmp_path, 'sr_onnx', opt_path, model_path, '--backend', 'onnxruntime')[0].shape == (128, 128, 3)
    assert sorted(tmp_path.rglob('step.onnx')) == graphs


@needs_onnx
@pytest.mark.slow
def test_onnx_backend_samples_the_interpolated_weights(tmp_path, hub_dir, capsys, demo_export):
    """``--backend onnxruntime --interpolate G2 --alpha a`` exports the interpolated weights (its own export, not the
    first checkpoint's): the same images as the torch backend's interpolation, unlike the first model's."""
    opt_path, first, plain_dir = demo_export  # the first model's own export
    _, second = _write_generator(tmp_path, 'train_SRDDGAN_demo_x4', seed=1)
    weights = torch.load(second)['params_ema']  # (a residual generator at initialisation returns the bicubic image)
    torch.save({'params_ema': {name: value + 0.05 * torch.randn_like(value) if value.is_floating_point() else value
                               for name, value in weights.items()}}, second)
    _write_photo(tmp_path / 'photo.png', 24, 32)
    mix = ['--interpolate', second, '--alpha', '0.3']
    torch_images = _infer(tmp_path, 'sr_torch', opt_path, first, '--device', 'cpu', *mix)
    onnx_images = _infer(tmp_path, 'sr_onnx', opt_path, first, '--backend', 'onnxruntime', *mix)
    plain = _infer(tmp_path, 'sr_plain', opt_path, first, '--backend', 'onnxruntime', '--onnx_dir', str(plain_dir))
    for torch_image, onnx_image, plain_image in zip(torch_images, onnx_images, plain, strict=True):
        assert np.abs(torch_image - onnx_image).max() <= 1
        assert np.abs(plain_image - onnx_image).max() > 8
    # the interpolation is an export of its own: one in the cache, of both checkpoints, and the first checkpoint's
    # export is refused for it
    graphs = sorted(hub_dir.parent.rglob('step.onnx'))
    assert len(graphs) == 1 and json.loads((graphs[0].parent / 'srddgan_onnx.json').read_text())['source'][
        'interpolate'] == second
    capsys.readouterr()
    assert infer.main(['-i', str(tmp_path / 'photo.png'), '-o', str(tmp_path / 'sr_refused'), '-opt', opt_path,
                       '--model_path', first, '--backend', 'onnxruntime', '--onnx_dir', str(plain_dir), *mix]) == 1
    assert 'holds the export of another model or checkpoint' in capsys.readouterr().err
