"""Camera sensor noise (Brooks et al. 2019): the noise model, the camera draws, the unprocess/process round trip."""
import math

import numpy as np
import pytest
import torch

from srddgan_arch.data.camera_noise import (
    add_camera_noise_pt,
    add_sensor_noise,
    bayer_masks,
    process,
    sample_cameras,
    unprocess,
)

BROOKS = dict(shot_range=(0.0001, 0.012), read_fit=(2.18, 1.2, 0.26), red_gain=(1.9, 2.4), blue_gain=(1.5, 1.9))


def test_sensor_noise_variance_grows_with_intensity_as_the_model_says():
    """At raw intensity x the noise variance is shot * x + read: measured on flat raw images within 4 % (levels
    three standard deviations inside [0, 1], where clipping does not bias it)."""
    torch.manual_seed(0)
    shot, read = torch.tensor([0.005]), torch.tensor([0.0001])
    variances = []
    for level in (0.1, 0.3, 0.5, 0.8):
        raw = torch.full((1, 1, 256, 256), level)
        noisy = add_sensor_noise(raw, shot, read)
        variances.append(noisy.var().item())
        assert noisy.var().item() == pytest.approx(0.005 * level + 0.0001, rel=0.04)
        assert noisy.mean().item() == pytest.approx(level, abs=2e-3)
    assert variances == sorted(variances)


def test_cameras_are_drawn_as_brooks_et_al():
    """Colour matrices keep white white, shot is log-uniform in its range, log(read) follows the fit."""
    np.random.seed(0)
    camera = sample_cameras(4000, **BROOKS)
    assert torch.allclose(camera.rgb_to_cam.sum(2), torch.ones(4000, 3), atol=1e-5)
    assert camera.shot.min() >= 0.0001 and camera.shot.max() <= 0.012
    assert camera.gains[:, 1].eq(1).all() and camera.gains[:, 0].min() >= 1.9 and camera.gains[:, 2].max() <= 1.9
    residual = camera.read.log() - (2.18 * camera.shot.log() + 1.2)
    assert residual.mean().item() == pytest.approx(0, abs=0.02) and residual.std().item() == pytest.approx(0.26,
                                                                                                          rel=0.05)


def test_unprocess_then_process_gives_the_image_back():
    """Without noise the pipeline is the identity on flat colours and within 1/255 on smooth ramps (the bilinear
    demosaic interpolates them), for odd image sizes too; the mosaic has one value per pixel on an RGGB lattice."""
    np.random.seed(1)
    camera = sample_cameras(2, **BROOKS)
    rows, cols = torch.meshgrid(torch.linspace(0.3, 0.6, 17), torch.linspace(0.2, 0.5, 23), indexing='ij')
    img = torch.stack([torch.stack([rows, cols, (rows + cols) / 2]), torch.full((3, 17, 23), 0.4)])
    raw = unprocess(img, camera)
    assert raw.shape == (2, 1, 17, 23) and raw.min() >= 0 and raw.max() <= 1
    assert torch.allclose(process(raw, camera)[:, :, 1:-1, 1:-1], img[:, :, 1:-1, 1:-1], atol=1 / 255)
    assert torch.allclose(process(raw, camera)[1], img[1], atol=1e-5)
    assert torch.equal(bayer_masks(2, 2).flatten(1), torch.eye(3)[[0, 1, 1, 2]].T)


def test_camera_noise_stage_is_signal_dependent_on_srgb_images():
    """The whole stage on flat grey images: noise appears, the mean is kept, and in the raw domain the measured
    variance follows shot * x + read for each grey level."""
    np.random.seed(2)
    torch.manual_seed(2)
    grey = torch.tensor([0.1, 0.5, 0.9])[:, None, None, None].expand(3, 3, 128, 128)
    noisy = add_camera_noise_pt(grey, **BROOKS)
    assert noisy.shape == grey.shape and (noisy - grey).abs().mean() > 1e-3
    assert torch.allclose(noisy.mean((1, 2, 3)), grey[:, 0, 0, 0], atol=0.02)
    np.random.seed(3)
    camera = sample_cameras(3, **BROOKS)
    raw = unprocess(grey, camera)
    measured = (add_sensor_noise(raw, camera.shot, camera.read) - raw).var((1, 2, 3))
    expected = camera.shot * raw.mean((1, 2, 3)) + camera.read
    assert torch.allclose(measured, expected, rtol=0.15)
    assert math.isfinite(measured.sum().item())
