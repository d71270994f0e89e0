"""Tests of ``srddgan-infer`` (srddgan_arch.commands.infer): folders and image modes, outputs that never overwrite,
one-line mistakes before any model, settings, devices, addresses, the memory guard, trained steps, LR consistency."""
import logging
import os
import re
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.utils import get_root_logger
from conftest import TINY_RRDB, TINY_SRDDGAN, BicubicNet, photo_like_lq, run_cli, write_tiny_rrdb

from srddgan_arch.commands import infer
from srddgan_arch.commands.infer import main
from srddgan_arch.data.image_io import read_image, write_image
from srddgan_arch.inference import paths
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.upsampler import SRDDGANer, build_upsampler
from srddgan_arch.metrics.lr_psnr_metric import calculate_lr_psnr


def test_cli_folder_modes_and_tiles(tmp_path):
    """The CLI super-resolves a folder of gray / 16-bit / RGBA files into the same modes, tiled, never in place."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    folder = tmp_path / 'in'
    folder.mkdir()
    cv2.imwrite(str(folder / 'gray.jpg'), np.full((12, 10), 100, np.uint8))
    cv2.imwrite(str(folder / 'deep.png'), np.full((12, 10, 3), 40000, np.uint16))
    cv2.imwrite(str(folder / 'rgba.png'), np.full((12, 10, 4), 200, np.uint8))
    main(['-i', str(folder), '-o', str(tmp_path / 'out'), '-opt', opt_path, '--model_path', model_path,
          '--tile', '8', '--tile_pad', '2', '--device', 'cpu', '--num_samples', '2'])
    outputs = sorted(os.listdir(tmp_path / 'out'))
    assert outputs == ['deep_srddgan_0.png', 'deep_srddgan_1.png', 'gray_srddgan_0.jpg', 'gray_srddgan_1.jpg',
                       'rgba_srddgan_0.png', 'rgba_srddgan_1.png']
    shapes = {name: cv2.imread(str(tmp_path / 'out' / name), cv2.IMREAD_UNCHANGED) for name in outputs}
    assert shapes['gray_srddgan_0.jpg'].shape == (48, 40)
    assert shapes['deep_srddgan_0.png'].dtype == np.uint16 and shapes['rgba_srddgan_0.png'].shape == (48, 40, 4)


@pytest.fixture
def no_model_built(monkeypatch):
    """Fail the test if the CLI builds a model: the mistake must be found before."""
    def refuse(*args, **kwargs):
        raise AssertionError('a model was built before the mistake was found')
    for backend in (infer.TorchBackend, infer.OnnxBackend):
        monkeypatch.setattr(backend, 'build', refuse)


def test_cli_never_writes_over_its_inputs(tmp_path, capsys, model_args, no_model_built):
    """An output that could replace an input (whatever the image turns out to be) is refused before any work."""
    cv2.imwrite(str(tmp_path / 'a.jpg'), np.full((8, 8, 3), 90, np.uint8))
    before = (tmp_path / 'a.jpg').read_bytes()
    code, err = run_cli(capsys, '-i', str(tmp_path / 'a.jpg'), '-o', str(tmp_path), '--suffix', '', *model_args)
    assert code == 1 and 'Refusing to overwrite the input' in err and (tmp_path / 'a.jpg').read_bytes() == before


def test_cli_names_inputs_with_the_same_name_apart(tmp_path, model_args):
    """a.png (16-bit) and a.jpg give two results, each from its own input, instead of one overwriting the other."""
    folder = tmp_path / 'in'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), np.full((8, 8, 3), 13107, np.uint16))
    cv2.imwrite(str(folder / 'a.jpg'), np.full((8, 8, 3), 200, np.uint8))
    assert main(['-i', str(folder), '-o', str(tmp_path / 'out'), '--ext', 'png', *model_args]) == 0
    assert sorted(os.listdir(tmp_path / 'out')) == ['a_jpg_srddgan.png', 'a_png_srddgan.png']
    deep = cv2.imread(str(tmp_path / 'out' / 'a_png_srddgan.png'), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and cv2.imread(str(tmp_path / 'out' / 'a_jpg_srddgan.png')).dtype == np.uint8


def test_cli_keeps_portrait_photos_upright(tmp_path, model_args):
    """A JPEG stored landscape with EXIF orientation 6 (a portrait photo) comes out portrait."""
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.full((6, 10, 3), 120, np.uint8)).save(tmp_path / 'portrait.jpg', exif=exif)
    assert main(['-i', str(tmp_path / 'portrait.jpg'), '-o', str(tmp_path / 'out'), *model_args]) == 0
    assert cv2.imread(str(tmp_path / 'out' / 'portrait_srddgan.jpg')).shape == (40, 24, 3)


def test_cli_skips_a_bad_image_and_fails_at_the_end(tmp_path, capsys, model_args):
    """A corrupt file is named and skipped, the other images are written, the summary counts them, exit code 1."""
    folder = tmp_path / 'in'
    folder.mkdir()
    for name in ('a', 'c'):
        cv2.imwrite(str(folder / f'{name}.png'), np.full((8, 8, 3), 90, np.uint8))
    (folder / 'b.png').write_bytes(b'not an image')
    code, err = run_cli(capsys, '-i', str(folder), '-o', str(tmp_path / 'out'), *model_args)
    assert code == 1 and sorted(os.listdir(tmp_path / 'out')) == ['a_srddgan.png', 'c_srddgan.png']
    assert f'skipped {folder}/b.png: Bad image' in err and '2 of 3 images written' in err and 'Traceback' not in err


@pytest.mark.parametrize('case, args, message', [
    ('missing input', ['-i', '{tmp}/nothing.png'], r'-i: .*nothing\.png does not exist'),
    ('output is a file', ['-o', '{tmp}/in.png'], r'-o: .*in\.png is a file; give a folder'),
    ('no CUDA', ['--device', 'cuda'], r'--device cuda: no usable CUDA device here.*use --device cpu'),
    ('no CUDA', ['--device', 'cuda', '-g', '1'], r'--device cuda:1: no usable CUDA device here.*use --device cpu'),
    ('unknown device', ['--device', 'gpu1'], r'--device gpu1: expected cpu, mps, cuda or cuda:N'),
    ('two devices', ['-g', '1'], r'-g 1 means --device cuda:1, but --device is cpu: give one of them'),
    ('zero scale', ['-s', '0'], r'-s must be a positive number, got 0\.0'),
    ('NaN scale', ['-s', 'nan'], r'-s must be a positive number, got nan'),
    ('unknown format', ['--ext', 'xyz'], r'--ext xyz: not an image format'),
    ('float seed', ['--seed', '1e23'], r"--seed: invalid int value: '1e23'"),
    ('huge seed', ['--seed', str(10**23)], r'--seed must be an integer from 0 to'),
    ('no memory', ['--max_memory', '0'], r'--max_memory must be a positive number'),
])
def test_cli_mistakes_are_one_line_before_any_model(tmp_path, capsys, model_args, no_model_built, case, args,
                                                    message):
    """Each mistake is one line on stderr naming the option (and what to do), a non-zero exit, no traceback, and
    is found before a model is built."""
    if case == 'no CUDA' and torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    cv2.imwrite(str(tmp_path / 'in.png'), np.full((8, 8, 3), 90, np.uint8))
    argv = ['-i', str(tmp_path / 'in.png'), '-o', str(tmp_path / 'out'), *model_args]
    code, err = run_cli(capsys, *argv, *[a.format(tmp=tmp_path) for a in args])
    assert code != 0 and len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_cli_settings_reach_the_upsampler_unchanged(tmp_path, capsys, model_args):
    """The command line builds one ModelChoice and one RunSettings (an option not given keeps the class's default)
    and the upsampler holds that very RunSettings; a value out of its bounds is a one-line usage error naming the
    option."""
    args = infer.parse_args(['-i', str(tmp_path), *model_args, '--tile_pad', '3', '--bf16', '--param_key', 'params'])
    job = infer.build_job(args)
    assert job.upsampler.settings is args.run
    assert (args.run.tile_pad, args.run.precision, args.run.tile) == (3, 'bf16', 0)
    assert (args.model.param_key, args.model.steps, args.model.interpolate) == ('params', None, None)
    assert (job.upsampler.tile_pad, job.upsampler.precision, str(job.upsampler.device)) == (3, 'bf16', 'cpu')
    capsys.readouterr()  # (the checkpoint's warning: it has no 'params')
    code, err = run_cli(capsys, '-i', str(tmp_path), *model_args, '--tile', '-1')
    assert code == 2 and re.search(r'--tile must be an int >= 0, got -1', err) and len(err.strip().splitlines()) == 1


def test_face_model_takes_none_of_the_main_models_choices(tmp_path, monkeypatch):
    """``--face --interpolate G2``: the -opt model is interpolated with G2; the face model (another network) is built
    with its own choices (no interpolation, its trained steps), not the -opt model's."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    torch.manual_seed(1)
    torch.save({'params_ema': build_network(TINY_RRDB).state_dict()}, tmp_path / 'second.pth')
    face_opt = tmp_path / 'face.yml'
    face_opt.write_text(yaml.safe_dump({'network_g': dict(TINY_RRDB, scale=2, num_feat=4)}))
    torch.save({'params_ema': build_network(dict(TINY_RRDB, scale=2, num_feat=4)).state_dict()}, tmp_path / 'face.pth')
    faces = []
    monkeypatch.setattr(infer, 'build_face_mode', lambda upsampler, *args: faces.append(upsampler))
    args = infer.parse_args(['-i', str(tmp_path), '-opt', opt_path, '--model_path', model_path, '--device', 'cpu',
                           '--interpolate', str(tmp_path / 'second.pth'), '--alpha', '0.25', '--face', '--face_opt',
                           str(face_opt), '--face_model_path', str(tmp_path / 'face.pth')])
    job = infer.build_job(args)
    face_weights = torch.load(tmp_path / 'face.pth')['params_ema']
    assert all(torch.equal(value, face_weights[name]) for name, value in faces[0].net.state_dict().items())
    first, second = torch.load(model_path)['params_ema'], torch.load(tmp_path / 'second.pth')['params_ema']
    weight = job.upsampler.net.state_dict()['conv_first.weight']
    assert torch.allclose(weight, 0.75 * first['conv_first.weight'] + 0.25 * second['conv_first.weight'])


def test_face_mode_refuses_model_choices_without_an_opt_model(capsys):
    """Without -opt, the -opt model's choices (--steps, --interpolate, ...) would choose for nothing: one line."""
    code, err = run_cli(capsys, '-i', 'x.png', '--face', '--face_opt', 'f.yml', '--face_model_path', 'f.pth',
                        '--steps', '2')
    assert code == 2 and '--steps choose(s) for the -opt model, and there is none' in err
    assert len(err.strip().splitlines()) == 1


def test_cli_gpu_number(monkeypatch, capsys):
    """``-g N`` and ``--device cuda:N`` choose GPU N (Real-ESRGAN's -g); a GPU the machine lacks is a usage error."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    common = ['-i', 'x.png', '-opt', 'net.yml', '--model_path', 'net.pth']
    assert infer.parse_args(common + ['-g', '1']).run.device == 'cuda:1'
    assert infer.parse_args(common + ['--device', 'cuda:1', '--gpu-id', '1']).run.device == 'cuda:1'
    assert infer.parse_args(common + ['--device', 'cuda:0']).run.device == 'cuda:0'
    code, err = run_cli(capsys, *common, '--device', 'cuda:2')
    assert code == 2 and 'this machine has 2 CUDA device(s), cuda:0 to cuda:1' in err


def test_cli_paths_with_spaces_and_non_ascii_names(tmp_path):
    """Input folder and file, option file, weights and output folder with spaces and non-ASCII letters."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    folder = tmp_path / 'in put ü'
    folder.mkdir()
    write_image(str(folder / 'ïmage 1.png'), np.full((6, 5, 3), 0.5, np.float32))
    opt_named, model_named = tmp_path / 'öption file.yml', tmp_path / 'wéights 1.pth'
    os.rename(opt_path, opt_named)
    os.rename(model_path, model_named)
    assert main(['-i', str(folder), '-o', str(tmp_path / 'out ü'), '-opt', str(opt_named), '--model_path',
                 str(model_named), '--device', 'cpu']) == 0
    assert os.listdir(tmp_path / 'out ü') == ['ïmage 1_srddgan.png']
    assert read_image(str(tmp_path / 'out ü' / 'ïmage 1_srddgan.png')).img.shape == (24, 20, 3)


@pytest.mark.slow
def test_cli_model_from_an_http_address(tmp_path, http_folder, hub_dir):
    """``--model_path http://127.0.0.1:PORT/NAME.pth`` (served by the test) is downloaded into torch.hub's folder and
    super-resolves as the local file does."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    folder, base, served = http_folder
    shutil.copy(model_path, folder / 'net_rrdb.pth')
    write_image(str(tmp_path / 'lr.png'), np.random.default_rng(0).random((6, 5, 3), np.float32))
    common = ['-i', str(tmp_path / 'lr.png'), '-opt', opt_path, '--device', 'cpu']
    assert main(common + ['-o', str(tmp_path / 'url'), '--model_path', f'{base}/net_rrdb.pth']) == 0
    assert main(common + ['-o', str(tmp_path / 'local'), '--model_path', model_path]) == 0
    assert served == ['/net_rrdb.pth'] and (hub_dir / 'net_rrdb.pth').read_bytes() == open(model_path, 'rb').read()
    assert (tmp_path / 'url' / 'lr_srddgan.png').read_bytes() == (tmp_path / 'local' / 'lr_srddgan.png').read_bytes()


def test_free_memory_comes_from_psutil(monkeypatch):
    """Without --max_memory the guard's budget is psutil's available memory (on every platform)."""
    import psutil

    from srddgan_arch.inference import memory
    monkeypatch.setattr(psutil, 'virtual_memory', lambda: SimpleNamespace(available=3 * memory.GIB))
    assert memory.available_bytes(torch.device('cpu')) == (3 * memory.GIB, 3 * memory.GIB)
    guard = MemoryGuard(SRDDGANer(BicubicNet(2), device='cpu'))
    assert guard.host_budget == guard.device_budget == 3 * memory.GIB


def test_cli_empty_checkpoint_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, model_args):
    """A 0-byte --model_path is one line naming the file; with --debug the error propagates with its traceback."""
    cv2.imwrite(str(tmp_path / 'in.png'), np.full((8, 8, 3), 90, np.uint8))
    open(model_args[3], 'wb').close()
    argv = ['-i', str(tmp_path / 'in.png'), '-o', str(tmp_path / 'out'), *model_args]
    code, err = run_cli(capsys, *argv)
    assert code == 1 and len(err.strip().splitlines()) == 1 and f'{model_args[3]} is empty (0 bytes)' in err
    with pytest.raises(ValueError, match='is empty'):
        main([*argv, '--debug'])


def test_cli_refuses_images_too_large_for_memory_before_decoding(tmp_path, capsys, model_args, monkeypatch):
    """A small PNG of 6000x6000 pixels is refused from its header with the estimate and what helps (--max_memory, a
    smaller image; not "lower -s" when -s is not above the model's scale, as with -s 1); when tiles would fit the
    message names --tile, and -s 1e6 asks for a lower -s; nothing large is allocated."""
    cv2.imwrite(str(tmp_path / 'huge.png'), np.zeros((6000, 6000), np.uint8))
    assert (tmp_path / 'huge.png').stat().st_size < 100_000
    monkeypatch.setattr(paths, 'decode_image', lambda *args: pytest.fail('decoded before the size check'))
    argv = ['-o', str(tmp_path / 'out'), '--max_memory', '2', *model_args]
    code, err = run_cli(capsys, '-i', str(tmp_path / 'huge.png'), *argv)
    assert code == 1 and re.search(r'huge\.png \(6000x6000\) needs about \d+\.\d GiB.*even with --tile 32 it needs '
                                   r'about \d+\.\d GiB: give --max_memory \d+ if that much memory is free, or '
                                   r'super-resolve a smaller image', err), err
    code, err = run_cli(capsys, '-i', str(tmp_path / 'huge.png'), '-s', '1', *argv)
    assert code == 1 and 'give --max_memory' in err and '-s' not in err.split('needs about')[1], err
    cv2.imwrite(str(tmp_path / 'large.png'), np.zeros((1000, 1000), np.uint8))
    code, err = run_cli(capsys, '-i', str(tmp_path / 'large.png'), *argv)
    assert code == 1 and re.search(r'more than the 2\.0 GiB free in all: use --tile \d+', err), err
    cv2.imwrite(str(tmp_path / 'small.png'), np.zeros((8, 8), np.uint8))
    code, err = run_cli(capsys, '-i', str(tmp_path / 'small.png'), '-s', '1e6', *argv)
    assert code == 1 and re.search(r'if that much memory is free, -s \d or less \(the result is made at -s 1e\+06\)',
                                   err), err


def write_srddgan(tmp_path, option_steps, recorded_steps):
    """A tiny SRDDGAN option file with T = option_steps and its weights, recording T = recorded_steps (None: no
    record, as in checkpoints from elsewhere)."""
    opt_path, model_path = tmp_path / 'srddgan.yml', tmp_path / 'srddgan.pth'
    opt_path.write_text(yaml.safe_dump({'network_g': TINY_SRDDGAN, 'diffusion': {'num_timesteps': option_steps}}))
    checkpoint = {'params_ema': build_network(TINY_SRDDGAN).state_dict()}
    if recorded_steps is not None:
        checkpoint['diffusion'] = {'num_timesteps': recorded_steps, 'beta_min': 0.1, 'beta_max': 20.0}
    torch.save(checkpoint, model_path)
    return str(opt_path), str(model_path)


@pytest.mark.parametrize('option_steps, recorded_steps, steps, trained', [
    (2, 2, 3, 2),  # --steps against the checkpoint's record
    (2, None, 3, 2),  # no record: the option file's T is the trained one
    (4, 2, None, 2),  # an option file that differs from the checkpoint's record
])
def test_untrained_steps_are_refused_unless_forced(tmp_path, caplog, monkeypatch, option_steps, recorded_steps, steps,
                                                   trained):
    """Sampling with a T the generator was not trained with stops with an error naming both and --force_steps; with
    force_steps it samples with that T and logs a warning."""
    monkeypatch.setattr(get_root_logger(), 'propagate', True)
    opt_path, model_path = write_srddgan(tmp_path, option_steps, recorded_steps)
    requested = steps or option_steps
    with pytest.raises(ValueError, match=fr'num_timesteps {requested} \(trained: {trained}\).*--force_steps'):
        build_upsampler(opt_path, model_path, steps=steps, device='cpu')
    with caplog.at_level(logging.WARNING, logger='basicsr'):
        upsampler = build_upsampler(opt_path, model_path, steps=steps, device='cpu', force_steps=True)
    assert upsampler.schedule.num_timesteps == requested and f'(trained: {trained})' in caplog.text


def test_trained_steps_and_random_weights_sample_silently(tmp_path):
    """The trained T (recorded or given again with --steps) samples; without weights (speed tests) any T does."""
    opt_path, model_path = write_srddgan(tmp_path, 2, 2)
    assert build_upsampler(opt_path, model_path, steps=2, device='cpu').schedule.num_timesteps == 2
    assert build_upsampler(opt_path, steps=8, device='cpu').schedule.num_timesteps == 8


def test_cli_steps_guard(tmp_path, capsys):
    """srddgan-infer --steps with an untrained T stops with one line naming --force_steps; with it, it writes."""
    opt_path, model_path = write_srddgan(tmp_path, 2, 2)
    cv2.imwrite(str(tmp_path / 'lr.png'), np.full((8, 8, 3), 100, np.uint8))
    args = ['-i', str(tmp_path / 'lr.png'), '-o', str(tmp_path / 'out'), '-opt', opt_path, '--model_path', model_path,
            '--device', 'cpu', '--steps', '3']
    code, err = run_cli(capsys, *args)
    assert code == 1 and len(err.strip().splitlines()) == 1 and '--force_steps' in err
    main(args + ['--force_steps'])
    assert cv2.imread(str(tmp_path / 'out' / 'lr_srddgan.png')).shape == (16, 16, 3)


@pytest.mark.parametrize('section, flag, consistent', [
    ({'downsampler': 'bicubic'}, [], True), ({'downsampler': 'bicubic'}, ['--lr_consistency', 'none'], False),
    ({}, ['--lr_consistency', 'bicubic'], True), ({}, [], False)])
def test_cli_lr_consistency_from_option_file_or_flag(tmp_path, section, flag, consistent):
    """The option file's lr_consistency section decides, the flag overrides it: the written uint8 SR image of an
    untrained RRDBNet then has an LR-PSNR above 45 dB, or not."""
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    opt = yaml.safe_load(open(opt_path))
    yaml.safe_dump(dict(opt, lr_consistency=section), open(opt_path, 'w'))
    lq = (photo_like_lq(12, 10, scale=4)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'lq.png'), lq)
    main(['-i', str(tmp_path / 'lq.png'), '-o', str(tmp_path / 'out'), '-opt', opt_path, '--model_path', model_path,
          '--device', 'cpu'] + flag)
    sr = cv2.imread(str(tmp_path / 'out' / 'lq_srddgan.png'))
    assert (calculate_lr_psnr(sr, lq) > 45) == consistent


def test_cli_requires_model():
    """Without -opt/--model_path (or the face model in face mode) the CLI stops with a usage error."""
    with pytest.raises(SystemExit):
        main(['-i', 'x.png'])
    with pytest.raises(SystemExit):
        main(['-i', 'x.png', '--face', '-opt', 'a.yml', '--model_path', 'a.pth'])
