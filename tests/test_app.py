"""``srddgan-app``: its settings, samples and heat map without gradio; the served app through gradio's client and in
a headless Chromium (the ``[app]`` extra, Debian's chromium and chromium-driver; skipped with the reason when missing).
"""
import importlib.util
import os
import shutil
import socket
import sys
import types

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_SRDDGAN

from srddgan_arch.commands import app, infer
from srddgan_arch.inference import exploration, paths
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.lr_consistency import bicubic_downscale, reference_upscale
from srddgan_arch.metrics.lr_psnr_metric import calculate_lr_psnr

GRADIO = importlib.util.find_spec('gradio') is not None
needs_gradio = pytest.mark.skipif(not GRADIO, reason='the [app] extra (gradio) is not installed: pip install '
                                  '-c constraints-app.txt -e ".[app]"')
CHROMIUM, CHROMEDRIVER = shutil.which('chromium'), shutil.which('chromedriver')
needs_browser = pytest.mark.skipif(
    not (GRADIO and CHROMIUM and CHROMEDRIVER and importlib.util.find_spec('selenium')),
    reason="a headless browser test needs the [app] extra, selenium and Debian's chromium and chromium-driver")


@pytest.fixture
def model(tmp_path):
    """A tiny random-weight SRDDGAN (x2, T = 2), an image of 12x16 pixels and the upsampler the app builds."""
    opt_path, model_path = str(tmp_path / 'net.yml'), str(tmp_path / 'net.pth')
    with open(opt_path, 'w') as f:
        yaml.safe_dump({'network_g': TINY_SRDDGAN, 'diffusion': {'num_timesteps': 2}}, f)
    torch.manual_seed(0)
    torch.save({'params_ema': build_network(TINY_SRDDGAN).state_dict()}, model_path)
    y, x = np.mgrid[0:12, 0:16].astype(np.float32)
    photo = np.stack([np.sin(x / 3) * 90 + 128, np.cos(y / 2) * 90 + 128, (x + y) * 8 % 256], axis=2)
    cv2.imwrite(str(tmp_path / 'photo.png'), photo.round().astype(np.uint8))
    base = build_upsampler(opt_path, model_path, device='cpu')
    return base, opt_path, model_path, str(tmp_path / 'photo.png')


def _infer_rgb(tmp_path, opt_path, model_path, image_path, seed, num_samples, *extra):
    """What srddgan-infer writes for the image, RGB, sample by sample."""
    output = tmp_path / f'infer_{seed}'
    assert infer.main(['-i', image_path, '-o', str(output), '-opt', opt_path, '--model_path', model_path, '--device',
                     'cpu', '--seed', str(seed), '--num_samples', str(num_samples), *extra]) == 0
    names = [f'photo_srddgan_{index}.png' for index in range(num_samples)] if num_samples > 1 else ['photo_srddgan.png']
    return [cv2.cvtColor(cv2.imread(str(output / name)), cv2.COLOR_BGR2RGB) for name in names]


def test_app_help_works_without_gradio(capsys):
    """``--help`` needs no gradio and names the extra."""
    with pytest.raises(SystemExit) as exit_info:
        app.parse_args(['--help'])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and 'srddgan[app]' in out and '--model_path' in out and '--max_memory' in out


def test_app_without_gradio_names_the_extra(monkeypatch, capsys):
    """Without gradio the app stops at once, one line naming the extra to install."""
    monkeypatch.setitem(sys.modules, 'gradio', None)
    assert app.main(['-opt', 'train_SRDDGAN_demo_x4', '--model_path', 'missing.pth']) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'needs gradio' in err and 'srddgan[app]' in err, err


def test_app_refuses_a_bad_device_and_model_in_one_line(capsys, tmp_path, monkeypatch):
    """The app's own options are checked as srddgan-infer's: a bad device is a usage error, a missing checkpoint one
    line before anything is served."""
    with pytest.raises(SystemExit) as exit_info:
        app.parse_args(['-opt', 'train_SRDDGAN_demo_x4', '--model_path', 'x.pth', '--device', 'gpu'])
    assert exit_info.value.code == 2 and 'expected cpu, mps, cuda or cuda:N' in capsys.readouterr().err
    missing = str(tmp_path / 'missing.pth')
    # the app only checks that gradio imports before the model is built: a stand-in spares its import (seconds)
    monkeypatch.setitem(sys.modules, 'gradio', types.ModuleType('gradio'))
    assert app.main(['-opt', 'train_SRDDGAN_demo_x4', '--model_path', missing, '--device', 'cpu']) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'missing.pth' in err, err


def test_app_options_build_the_cli_carriers(capsys):
    """The app's --param_key, --device and --max_memory are srddgan-infer's model choice and run settings, bounds
    included (one-line usage error naming the option)."""
    args = app.parse_args(['-opt', 'train_SRDDGAN_demo_x4', '--model_path', 'x.pth', '--param_key', 'params',
                           '--device', 'cpu', '--max_memory', '2'])
    assert (args.model.param_key, args.run.device, args.run.max_memory) == ('params', 'cpu', 2)
    with pytest.raises(SystemExit) as exit_info:
        app.parse_args(['-opt', 'train_SRDDGAN_demo_x4', '--model_path', 'x.pth', '--max_memory', '-1'])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and '--max_memory must be a positive number' in err, err


@pytest.mark.parametrize('setting, message', [
    ({'seed': -1}, '--seed must be an integer from 0'),
    ({'num_samples': 0}, '--num_samples must be >= 1'),
    ({'num_samples': 17}, '--num_samples must be at most 16'),
    ({'tile': -4}, '--tile'),
    ({'scale': -2}, '-s must be a positive number'),
])
def test_app_settings_are_checked_as_the_cli_checks_them(model, setting, message):
    """A setting srddgan-infer refuses is the same one-line message in the app, before anything is sampled."""
    base, opt_path, model_path, image_path = model
    with pytest.raises(ValueError) as error:
        exploration.app_request(base, image_path, **setting)
    text = str(error.value)
    assert message in text and '\n' not in text and 'see --help' not in text, text


def test_app_samples_are_the_cli_images(model, tmp_path):
    """Sample i of the app is srddgan-infer's sample i for the same seed; the gallery's bicubic is the MATLAB-bicubic
    reference and its LR the input, both at the output size."""
    base, opt_path, model_path, image_path = model
    result = exploration.explore(base, exploration.app_request(base, image_path, seed=5, num_samples=3))
    assert len(result.samples) == 3 and all(sample.shape == (24, 32, 3) for sample in result.samples)
    written = _infer_rgb(tmp_path, opt_path, model_path, image_path, 5, 3)
    for sample, expected in zip(result.samples, written, strict=True):
        np.testing.assert_array_equal(sample, expected)
    assert not np.array_equal(result.samples[0], result.samples[1])
    lq = cv2.cvtColor(cv2.imread(image_path), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(result.lr, lq.repeat(2, axis=0).repeat(2, axis=1))
    bicubic = reference_upscale(torch.from_numpy(lq.transpose(2, 0, 1) / 255.).float()[None], 2, 'bicubic')
    expected = (bicubic[0].numpy().transpose(1, 2, 0) * 255).round()
    assert np.abs(result.bicubic.astype(int) - expected).max() <= 1


def test_app_settings_reach_the_sampler(model, tmp_path):
    """LR consistency, -s and tiles act as in srddgan-infer: the bicubic-consistent samples downscale to the LR."""
    base, opt_path, model_path, image_path = model
    consistent = exploration.explore(base, exploration.app_request(base, image_path, num_samples=2,
                                                     lr_consistency='bicubic', tile=8, tile_pad=2))
    for sample, written in zip(consistent.samples, _infer_rgb(tmp_path, opt_path, model_path, image_path, 0, 2,
                                                              '--lr_consistency', 'bicubic', '-t', '8',
                                                              '--tile_pad', '2'), strict=True):
        np.testing.assert_array_equal(sample, written)
    lq = cv2.cvtColor(cv2.imread(image_path), cv2.COLOR_BGR2RGB)
    assert calculate_lr_psnr(consistent.samples[0], lq, scale=2, input_order='HWC') >= 45
    free = exploration.explore(base, exploration.app_request(base, image_path, num_samples=1))
    downscaled = bicubic_downscale(torch.from_numpy(free.samples[0].transpose(2, 0, 1) / 255.).float()[None], 2)
    assert (downscaled[0].numpy().transpose(1, 2, 0) * 255 - lq).std() > 1  # without it the samples are free
    scaled = exploration.explore(base, exploration.app_request(base, image_path, scale=3, num_samples=1))
    assert scaled.samples[0].shape == scaled.bicubic.shape == scaled.lr.shape == (36, 48, 3)


def test_app_refuses_an_image_too_large_for_memory_before_decoding(model, tmp_path, monkeypatch):
    """The app's memory guard is srddgan-infer's: a small PNG of 6000x6000 pixels is refused from its header."""
    base, opt_path, model_path, _ = model
    cv2.imwrite(str(tmp_path / 'huge.png'), np.zeros((6000, 6000), np.uint8))
    monkeypatch.setattr(paths, 'decode_image', lambda *args: pytest.fail('decoded before the size check'))
    monkeypatch.setattr(base, 'settings', base.settings.updated(max_memory=1))  # srddgan-app --max_memory 1
    request = exploration.app_request(base, str(tmp_path / 'huge.png'))
    with pytest.raises(MemoryError, match=r'huge\.png \(6000x6000\) needs about'):
        exploration.explore(base, request)


@pytest.mark.parametrize('upload, message', [
    ('notes.png', r'^Bad image .*notes\.png: the data cannot be decoded as an image'),
    ('folder.png', r'^Bad image .*folder\.png: not a regular file'),
    (None, r'^Upload an image first\.$')])
def test_app_request_shows_srddgans_one_line_message(model, tmp_path, upload, message):
    """What the page shows for an upload that is no image (a text file, a folder) is srddgan's one line naming the
    file, from the request gradio calls (its image component no longer decodes the upload first)."""
    base, opt_path, model_path, _ = model
    (tmp_path / 'notes.png').write_text('not an image')
    (tmp_path / 'folder.png').mkdir()
    with pytest.raises(exploration.RequestError, match=message) as error:
        exploration.request(base, upload and str(tmp_path / upload), None, 0, 1, 0, 10, None, 'fp32')
    assert '\n' not in str(error.value)


def test_heat_map_shows_where_the_samples_differ():
    """The heat map is black (inferno: RGB 0, 0, 4) where all samples agree and the top colour where they differ
    most; its top is the largest per-pixel standard deviation (0-255 scale)."""
    first = np.full((4, 5, 3), 100, np.uint8)
    second = first.copy()
    second[1, 2] = 200
    second[3, 4, 0] = 130
    heat, top = exploration.heat_map([first, second])
    assert heat.shape == (4, 5, 3) and top == pytest.approx(50.0)
    assert heat[0, 0].max() <= 4 and heat[1, 2].sum() > heat[3, 4].sum() > 3 * heat[0, 0].max()  # inferno: black
    heat, top = exploration.heat_map([first, first])
    assert top == 0 and (heat == heat[0, 0]).all()


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(model, monkeypatch, tmp_path):
    """The app on a free port of 127.0.0.1 (analytics off, uploads under tmp_path): (url, model)."""
    monkeypatch.setenv('GRADIO_ANALYTICS_ENABLED', 'False')
    monkeypatch.setenv('GRADIO_TEMP_DIR', str(tmp_path / 'gradio'))
    base, opt_path, model_path, _ = model
    blocks = app.build_app(base, opt_path)
    blocks.launch(server_name='127.0.0.1', server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    yield blocks.local_url, model
    blocks.close()


@needs_gradio
@pytest.mark.slow
def test_app_through_gradio_client(served, tmp_path):
    """gradio's client uploads an image: the gallery holds LR, bicubic and the samples (srddgan-infer's images), the
    slider spans them, the chosen image is sample 1 and the heat map is the samples' standard deviation; a refused
    setting is the CLI's one-line message."""
    from gradio_client import Client, handle_file

    url, (base, opt_path, model_path, image_path) = served
    client = Client(url, verbose=False)
    gallery, slider, chosen, std_map, note = client.predict(handle_file(image_path), 2, 7, 3, 0, 10, 'none', 'fp32',
                                                            api_name='/explore')
    assert [item['caption'] for item in gallery] == ['LR (nearest)', 'bicubic', 'sample 1 (seed 7)',
                                                     'sample 2 (seed 8)', 'sample 3 (seed 9)']
    shown = [cv2.cvtColor(cv2.imread(item['image']), cv2.COLOR_BGR2RGB) for item in gallery]
    written = _infer_rgb(tmp_path, opt_path, model_path, image_path, 7, 3)
    for sample, expected in zip(shown[2:], written, strict=True):
        np.testing.assert_array_equal(sample, expected)
    assert slider['maximum'] == 3 and slider['value'] == 1
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(chosen), cv2.COLOR_BGR2RGB), written[0])
    heat, top = exploration.heat_map(written)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(std_map), cv2.COLOR_BGR2RGB), heat)
    assert f'yellow {top:.1f}' in note
    with pytest.raises(Exception, match='--seed must be an integer from 0') as error:
        client.predict(handle_file(image_path), 2, -1, 3, 0, 10, 'none', 'fp32', api_name='/explore')
    assert type(error.value).__name__ == 'AppError'


@needs_browser
@pytest.mark.slow
def test_app_in_a_headless_browser(served, tmp_path):
    """Headless Chromium opens the page, uploads an image, presses Sample and sees LR, bicubic and four samples."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, (_, _, _, image_path) = served
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1400,1600'):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#lr_input input[type=file]'))[0].send_keys(
            os.path.abspath(image_path))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#lr_input img'))
        driver.find_element(By.ID, 'sample_button').click()
        thumbnails = wait.until(lambda d: len(found := d.find_elements(By.CSS_SELECTOR, '#samples img')) >= 6 and found)
        assert len(thumbnails) == 6
        assert wait.until(lambda d: 'samples: black 0' in d.find_element(By.ID, 'std_note').text)
        driver.save_screenshot(str(tmp_path / 'app.png'))
        assert cv2.imread(str(tmp_path / 'app.png')) is not None
    finally:
        driver.quit()
