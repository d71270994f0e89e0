"""Tests of the perception-distortion knobs: the realism measure (sliced Wasserstein distance of Laplacian-pyramid
patches), the mean of K samples (``--reduce mean``, ``val.reduce``) and the interpolation of two generators'
weights (``--interpolate``, ``--alpha``)."""
import dataclasses

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.metrics import calculate_psnr
from basicsr.models import build_model
from conftest import TINY_SRDDGAN, photo_like_lq, run_cli
from conftest import tiny_srddgan_options as tiny_opt
from skimage import data as skimage_data

from srddgan_arch.commands.infer import main
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.upsampler import build_upsampler, mean_of_samples
from srddgan_arch.lr_consistency import bicubic_downscale
from srddgan_arch.metrics.swd_metric import calculate_swd, laplacian_pyramid
from srddgan_arch.models.sample_validation import parse_val
from srddgan_arch.options import OptionError
from srddgan_arch.utils.checkpoint import CheckpointError


@pytest.fixture(scope='module')
def photo():
    """A 96x96 BGR uint8 crop of a real photograph (scikit-image's astronaut: face, hair, fabric)."""
    return np.ascontiguousarray(skimage_data.astronaut()[40:136, 160:256, ::-1])


def blurred(img, sigma):
    return cv2.GaussianBlur(img, (0, 0), sigma)


def noisy(img, std):
    noise = np.random.default_rng(0).normal(0, std, img.shape)
    return np.clip(img + noise, 0, 255).round().astype(np.uint8)


def test_laplacian_pyramid_reconstructs_and_keeps_one_channel():
    """The levels sum back to the image (each band-pass level plus the upsampled coarser one), down to 16 px; a
    one-channel image keeps its channel axis through OpenCV."""
    img = np.random.default_rng(0).uniform(0, 255, (64, 80, 1)).astype(np.float32)
    levels = laplacian_pyramid(img)
    assert [level.shape for level in levels] == [(64, 80, 1), (32, 40, 1), (16, 20, 1)]
    rebuilt = levels[-1]
    for level in reversed(levels[:-1]):
        rebuilt = cv2.pyrUp(rebuilt, dstsize=level.shape[1::-1]).reshape(level.shape) + level
    np.testing.assert_allclose(rebuilt, img, atol=1e-3)


def test_swd_orders_known_degradations(photo):
    """0 for the HR itself; more blur or more noise is farther; a 2-pixel shift, which PSNR punishes more than
    blur, keeps the patch distribution and so stays closer than blur does."""
    assert calculate_swd(photo, photo) == 0
    blur = [calculate_swd(blurred(photo, sigma), photo) for sigma in (0.7, 1.5, 3)]
    noise = [calculate_swd(noisy(photo, std), photo) for std in (4, 12, 30)]
    assert blur == sorted(blur) and noise == sorted(noise) and blur[0] > 0
    shifted = np.roll(photo, 2, axis=1)
    assert calculate_psnr(shifted, photo, 0) < calculate_psnr(blurred(photo, 1.5), photo, 0)
    assert calculate_swd(shifted, photo) < blur[1] / 2


def test_swd_is_deterministic_and_checks_its_inputs(photo):
    """The same call gives the same value (positions and directions come from the seed); gray images work; shapes
    that differ and images below the coarsest level are refused."""
    sr = blurred(photo, 1)
    assert calculate_swd(sr, photo) == calculate_swd(sr, photo)
    assert calculate_swd(sr, photo, seed=1) == pytest.approx(calculate_swd(sr, photo), rel=0.2)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    assert calculate_swd(blurred(gray, 1), gray) > 0
    with pytest.raises(ValueError, match='shapes differ'):
        calculate_swd(photo, photo[:64])
    with pytest.raises(ValueError, match='16-pixel'):
        calculate_swd(photo[:12, :12], photo[:12, :12])


@pytest.fixture
def tiny_generator(tmp_path):
    """Option file of a random-weight x2 SRDDGAN with the LR-consistent sampler, and two checkpoints of it."""
    opt_path = tmp_path / 'g.yml'
    opt_path.write_text(yaml.safe_dump({'network_g': TINY_SRDDGAN, 'diffusion': {'num_timesteps': 2},
                                        'lr_consistency': {'downsampler': 'bicubic'}}))
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(tmp_path / f'g{seed}.pth')
        torch.save({'params_ema': build_network(TINY_SRDDGAN).state_dict()}, paths[-1])
    return str(opt_path), [str(p) for p in paths]


def test_mean_of_samples_is_their_mean_and_lr_consistent(tiny_generator):
    """The mean of K samples is the float mean of the K images the same seeds give, of the same shape, and
    downscales to the LR input as each LR-consistent sample does (the consistent images form an affine set)."""
    opt_path, (model_path, _) = tiny_generator
    upsampler = build_upsampler(opt_path, model_path, device='cpu')
    lq = photo_like_lq(12, 10)[0].numpy().transpose(1, 2, 0)
    samples = [upsampler.enhance(lq, seed=seed) for seed in range(3)]
    mean = mean_of_samples(upsampler, lq, range(3))
    assert mean.shape == (24, 20, 3) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, np.mean(samples, axis=0), atol=1e-6)
    assert np.abs(samples[0] - samples[1]).mean() > 1e-3  # the samples differ: the mean is not one of them
    np.testing.assert_array_equal(mean_of_samples(upsampler, lq, [0]), samples[0])
    downscaled = bicubic_downscale(torch.from_numpy(mean.transpose(2, 0, 1).copy())[None], 2)[0].numpy()
    assert np.abs(downscaled.transpose(1, 2, 0) - lq).max() < 2e-3


def test_cli_reduce_mean_writes_one_image_per_input(tmp_path, tiny_generator):
    """--reduce mean writes <name>_srddgan.png, the rounded mean of the --num_samples samples of seeds seed..."""
    opt_path, (model_path, _) = tiny_generator
    lq = (photo_like_lq(12, 10)[0].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'lq.png'), lq)
    common = ['-i', str(tmp_path / 'lq.png'), '-opt', opt_path, '--model_path', model_path, '--device', 'cpu',
              '--num_samples', '3', '--seed', '5']
    main(common + ['-o', str(tmp_path / 'samples')])
    main(common + ['-o', str(tmp_path / 'mean'), '--reduce', 'mean'])
    assert sorted(p.name for p in (tmp_path / 'mean').iterdir()) == ['lq_srddgan.png']
    samples = [cv2.imread(str(tmp_path / 'samples' / f'lq_srddgan_{i}.png')).astype(float) for i in range(3)]
    mean = cv2.imread(str(tmp_path / 'mean' / 'lq_srddgan.png')).astype(float)
    assert np.abs(mean - np.mean(samples, axis=0)).max() <= 1.5  # the samples were rounded before averaging here


def test_interpolation_blends_the_two_generators(tiny_generator):
    """alpha 0 samples as the first generator, 1 as the second; 0.5 loads the mean of their weights."""
    opt_path, (first, second) = tiny_generator
    lq = photo_like_lq(12, 10)[0].numpy().transpose(1, 2, 0)

    def output(model_path, **interpolation):
        return build_upsampler(opt_path, model_path, device='cpu', **interpolation).enhance(lq, seed=0)

    np.testing.assert_array_equal(output(first, interpolate=second, alpha=0), output(first))
    np.testing.assert_allclose(output(first, interpolate=second, alpha=1), output(second), atol=1e-6)
    weights = [torch.load(path, weights_only=True)['params_ema'] for path in (first, second)]
    blended = build_upsampler(opt_path, first, device='cpu', interpolate=second, alpha=0.5).net.state_dict()
    key = next(key for key, value in blended.items() if value.is_floating_point() and value.numel() > 1)
    torch.testing.assert_close(blended[key], (weights[0][key] + weights[1][key]) / 2)


def test_interpolation_refuses_different_networks_and_bad_alphas(tmp_path, tiny_generator, capsys):
    """Weights of another network are a CheckpointError naming both files; --alpha without --interpolate or out of
    [0, 1] is a one-line usage error."""
    opt_path, (first, _) = tiny_generator
    other = tmp_path / 'other.pth'
    torch.save({'params_ema': build_network(dict(TINY_SRDDGAN, num_feat=4)).state_dict()}, other)
    with pytest.raises(CheckpointError, match=f'{first} and {other} cannot be interpolated'):
        build_upsampler(opt_path, first, device='cpu', interpolate=str(other))
    common = ['-i', 'x.png', '-opt', opt_path, '--model_path', first]
    code, err = run_cli(capsys, *common, '--alpha', '0.3')
    assert code == 2 and '--alpha goes with --interpolate' in err
    code, err = run_cli(capsys, *common, '--interpolate', first, '--alpha', '1.5')
    assert code == 2 and 'alpha' in err and len(err.strip().splitlines()) == 1


def test_validation_reduce_mean_scores_the_mean(tmp_path):
    """val.reduce mean: test() leaves one image, the mean of the num_samples samples; a set metric with it is refused
    when the options are read."""
    opt = tiny_opt(tmp_path, is_train=False)
    model = build_model(opt)
    coarse = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    model.feed_data({'lq': torch.nn.functional.interpolate(coarse, size=8), 'gt': torch.rand(1, 3, 32, 32)})
    model.test()
    samples = [s.clone() for s in model.samples]
    model.val_settings = dataclasses.replace(model.val_settings, reduce='mean')
    model.test()
    assert len(model.samples) == 1
    torch.testing.assert_close(model.samples[0], (samples[0] + samples[1]) / 2)
    with pytest.raises(OptionError, match='val.reduce mean leaves one image'):
        parse_val(dict(opt['val'], reduce='mean'))
