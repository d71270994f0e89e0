"""Complex degradation: each stage type, LR sizes, seeded reproducibility, the batched path, the HR-only data set."""
import cv2
import numpy as np
import pytest
import torch
from basicsr.data import build_dataset

from srddgan_arch.data.degradations import (
    KERNEL_TYPES,
    DegradationOptions,
    block_centres,
    degrade_batch,
    degrade_image,
    rng_scope,
    sample_kernel,
    sample_stages,
)

NO_EXTRAS = {'blur_prob': 0.0, 'noise_prob': 0.0, 'jpeg_prob': 0.0}
# one configuration per degradation type of the paper (each alone next to the obligatory down-sampling)
SINGLE_TYPES = {
    'iso_blur': {**NO_EXTRAS, 'blur_prob': 1.0, 'kernel_list': ['iso'], 'kernel_prob': [1]},
    'aniso_blur': {**NO_EXTRAS, 'blur_prob': 1.0, 'kernel_list': ['aniso'], 'kernel_prob': [1]},
    'nearest': {**NO_EXTRAS, 'resize_modes': ['nearest'], 'resize_prob': [1]},
    'bilinear': {**NO_EXTRAS, 'resize_modes': ['bilinear'], 'resize_prob': [1]},
    'bicubic': {**NO_EXTRAS, 'resize_modes': ['bicubic'], 'resize_prob': [1]},
    'sinc_blur': {**NO_EXTRAS, 'blur_prob': 1.0, 'sinc_prob': 1.0},
    'gaussian_noise': {**NO_EXTRAS, 'noise_prob': 1.0, 'camera_noise_prob': 0.0, 'gaussian_noise_prob': 1.0},
    'poisson_noise': {**NO_EXTRAS, 'noise_prob': 1.0, 'camera_noise_prob': 0.0, 'gaussian_noise_prob': 0.0},
    'camera_noise': {**NO_EXTRAS, 'noise_prob': 1.0, 'camera_noise_prob': 1.0},
    'jpeg': {**NO_EXTRAS, 'jpeg_prob': 1.0, 'jpeg_range': [10, 20]},
}


def hr_image(size=32):
    """A smooth BGR float32 test image with some edges."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([x, y, (x * y > 0.2).astype(float)], axis=2)
    return np.ascontiguousarray(img, dtype=np.float32)


def reference_lr(img, options):
    """The LR of the same image down-sampled with the configured mode only (no other stage)."""
    if options.resize_modes[0] == 'nearest':
        lr = block_centres(img, options.scale, (0, 1))
    else:
        mode = {'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}[options.resize_modes[0]]
        lr = cv2.resize(img, (img.shape[1] // options.scale, img.shape[0] // options.scale), interpolation=mode)
    return np.clip((lr * 255).round(), 0, 255) / 255


@pytest.mark.parametrize('kind', SINGLE_TYPES)
@pytest.mark.parametrize('scale', [2, 4])
def test_each_degradation_type_cpu(kind, scale):
    """Each type alone gives LR of exactly HR/scale, in [0, 1] on 8-bit levels; non-resize types change the image."""
    options = DegradationOptions(scale=scale, **{'resize_modes': ['bicubic'], 'resize_prob': [1], **SINGLE_TYPES[kind]})
    img = hr_image()
    np.random.seed(0)
    lr = degrade_image(img, options)
    assert lr.shape == (32 // scale, 32 // scale, 3) and lr.dtype == np.float32
    assert lr.min() >= 0 and lr.max() <= 1 and np.allclose(lr * 255, np.round(lr * 255), atol=1e-4)
    changed = np.abs(lr - reference_lr(img, options)).max() > 1 / 255
    assert changed == (kind not in ('nearest', 'bilinear', 'bicubic'))


@pytest.mark.parametrize('kind', SINGLE_TYPES)
def test_each_degradation_type_batched(kind):
    """The batched path (CPU here, any device in a model) gives (b, 3, h/4, w/4) for every type."""
    options = DegradationOptions(scale=4, **SINGLE_TYPES[kind])
    gt = torch.from_numpy(hr_image()).permute(2, 0, 1)[None].repeat(3, 1, 1, 1)
    torch.manual_seed(0)
    lq = degrade_batch(gt, options)
    assert lq.shape == (3, 3, 8, 8) and lq.min() >= 0 and lq.max() <= 1


def blob(height, width, centre, sigma=3.0):
    """A smooth Gaussian blob on a dark background, BGR float32, centred at (row, col) ``centre``."""
    rows, cols = np.mgrid[0:height, 0:width]
    img = 0.1 + 0.8 * np.exp(-((rows - centre[0])**2 + (cols - centre[1])**2) / (2 * sigma**2))
    return np.ascontiguousarray(np.repeat(img[..., None], 3, axis=2), dtype=np.float32)


def centroid(img):
    """(row, col) intensity centroid of the blob above the (8-bit rounded) background."""
    weight = img[..., 0] - img[..., 0].min()
    rows, cols = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    return np.array([(weight * rows).sum(), (weight * cols).sum()]) / weight.sum()


@pytest.mark.parametrize('mode', ['nearest', 'bilinear', 'bicubic'])
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_every_down_sampling_mode_keeps_pixel_centres_aligned(mode, scale):
    """A blob centred at HR c lands at (c + 0.5) / scale - 0.5 in the LR within 0.05 LR pixel, for each mode, in the
    data set path and the batched path (plain nearest missed by (scale - 1) / 2 HR pixels: 0.375 LR pixel at x4)."""
    options = DegradationOptions(scale=scale, **NO_EXTRAS, resize_modes=[mode], resize_prob=[1])
    centre = np.array([45.3, 30.7])
    img = blob(96, 72, centre, sigma=2.5 * scale)
    expected = (centre + 0.5) / scale - 0.5
    lr_image = degrade_image(img, options)
    lr_batch = degrade_batch(torch.from_numpy(img).permute(2, 0, 1)[None], options)[0].permute(1, 2, 0).numpy()
    for lr in (lr_image, lr_batch):
        assert lr.shape[:2] == (96 // scale, 72 // scale)
        assert np.abs(centroid(lr) - expected).max() < 0.05


@pytest.mark.parametrize('kernel_type', KERNEL_TYPES)
def test_every_basicsr_kernel_type_and_the_sinc_filter(kernel_type):
    """Each of BasicSR's kernel types, and the sinc filter, is a normalised kernel of blur_kernel_size; sinc_prob 1
    gives BasicSR's circular low-pass filter (negative side lobes, which no Gaussian kernel has)."""
    np.random.seed(0)
    options = DegradationOptions(kernel_list=[kernel_type], kernel_prob=[1], blur_kernel_size=15)
    kernel = sample_kernel(options)
    assert kernel.shape == (15, 15) and abs(kernel.sum() - 1) < 1e-5 and kernel.min() >= 0
    sinc = sample_kernel(DegradationOptions(kernel_list=[kernel_type], kernel_prob=[1], sinc_prob=1.0))
    assert sinc.shape == (21, 21) and abs(sinc.sum() - 1) < 1e-5 and sinc.min() < 0


def test_stage_order_is_random_and_resize_always_once():
    """All stages on: resize appears exactly once per draw and several orders occur; shuffle_prob 0 keeps order."""
    orders = set()
    np.random.seed(1)
    for _ in range(50):
        stages = sample_stages(DegradationOptions(jpeg_prob=1.0))
        assert sorted(stages) == ['blur', 'jpeg', 'noise', 'resize']
        orders.add(tuple(stages))
    assert len(orders) > 5
    assert sample_stages(DegradationOptions(jpeg_prob=1.0, shuffle_prob=0.0)) == ['blur', 'resize', 'noise', 'jpeg']


def test_seeded_degradation_is_reproducible():
    """The same seed gives the same LR (CPU and batched); another seed a different one; the outer state is kept."""
    options = DegradationOptions()
    img = hr_image()
    gt = torch.from_numpy(img).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    outer = np.random.get_state()[1].copy()
    results = []
    for seed in (7, 7, 8):
        with rng_scope(seed):
            results.append((degrade_image(img, options), degrade_batch(gt, options)))
    assert np.array_equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert not np.array_equal(results[0][0], results[2][0])
    assert np.array_equal(np.random.get_state()[1], outer)


@pytest.mark.parametrize('options, message', [
    ({'blur_sigmas': [1, 2]}, r'Unknown option degradation\.blur_sigmas'),
    ({'jpeg_prob': 1.5}, 'jpeg_prob'),
    ({'kernel_list': ['iso', 'box'], 'kernel_prob': [0.5, 0.5]}, 'kernel_list'),
    ({'resize_prob': [1, 0]}, 'resize_prob'),
    ({'noise_range': [30, 1]}, 'noise_range'),
    ({'blur_kernel_size': 20}, 'blur_kernel_size'),
    ({'scale': 2}, 'scale'),
    ({'kernel_list': ['generalized'], 'kernel_prob': [1]}, 'kernel_list'),
    ({'sinc_prob': -0.1}, 'sinc_prob'),
    ({'camera_noise_prob': 2}, 'camera_noise_prob'),
    ({'camera_shot_range': [0, 0.01]}, 'camera_shot_range'),
    ({'camera_read_fit': [2.18, 1.2]}, 'camera_read_fit'),
    ({'camera_red_gain': [2.4, 1.9]}, 'camera_red_gain'),
])
def test_bad_options_name_the_key(options, message):
    """Wrong degradation options fail at construction with the key in the message."""
    with pytest.raises((KeyError, ValueError), match=message):
        DegradationOptions.from_dict(options, inherited={'scale': 4})


def test_degradation_is_a_nested_section_of_its_data_set():
    """The data set's degradation block is read with the data set: its mistakes are named under the data set's key,
    its scale is the data set's, and a contradicting scale is an error."""
    from srddgan_arch.data.degraded_dataset import DegradedDatasetOptions
    dataset = {'name': 'd', 'type': 'SRDDGANDegradedDataset', 'io_backend': {'type': 'disk'}, 'dataroot_gt': 'x',
               'scale': 2}
    assert DegradedDatasetOptions.from_dict(dataset, 'datasets.train').degradation.scale == 2
    with pytest.raises(ValueError, match=r'datasets\.train\.degradation\.jpeg_prob must be a number in \[0, 1\]'):
        DegradedDatasetOptions.from_dict(dict(dataset, degradation={'jpeg_prob': 2}), 'datasets.train')
    with pytest.raises(ValueError, match=r'datasets\.train\.degradation\.scale is 4 but the scale around it is 2'):
        DegradedDatasetOptions.from_dict(dict(dataset, degradation={'scale': 4}), 'datasets.train')
    with pytest.raises(ValueError, match=r'degradation\.kernel_prob needs one non-negative probability'):
        DegradationOptions(kernel_list=['iso'])


@pytest.fixture
def hr_folder(tmp_path):
    """Four 40x36 HR images on disk."""
    rng = np.random.default_rng(0)
    folder = tmp_path / 'HR'
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f'{i}.png'), rng.integers(0, 256, (40, 36, 3), dtype=np.uint8))
    return str(folder)


def degraded_options(dataroot, phase='train', **extra):
    """Options of an SRDDGANDegradedDataset at scale 4."""
    return {'name': 'degraded', 'type': 'SRDDGANDegradedDataset', 'dataroot_gt': dataroot,
            'io_backend': {'type': 'disk'}, 'phase': phase, 'scale': 4, 'gt_size': 32, **extra}


def test_degraded_dataset_train_and_val(hr_folder):
    """Train: gt_size patches with LR gt_size/scale; val: whole images mod-cropped (40x36 -> 40x36, LR 10x9)."""
    train = build_dataset(degraded_options(hr_folder, degradation={'jpeg_prob': 1.0}))
    sample = train[0]
    assert sample['gt'].shape == (3, 32, 32) and sample['lq'].shape == (3, 8, 8)
    assert sample['lq_path'] == sample['gt_path'] and sample['gt_path'].endswith('0.png')
    val = build_dataset(degraded_options(hr_folder, phase='val', seed=5))
    assert val[1]['gt'].shape == (3, 40, 36) and val[1]['lq'].shape == (3, 10, 9)
    # a fixed seed gives each image the same LR, also in a data set built again
    again = build_dataset(degraded_options(hr_folder, phase='val', seed=5))
    assert torch.equal(val[1]['lq'], again[1]['lq'])


def test_degraded_dataset_reproducible_with_global_seed(hr_folder):
    """Without a dataset seed, re-seeding the global generators (as BasicSR's worker_init_fn does) repeats samples."""
    dataset = build_dataset(degraded_options(hr_folder))
    samples = []
    for _ in range(2):
        with rng_scope(123):
            samples.append(dataset[2])
    assert torch.equal(samples[0]['lq'], samples[1]['lq']) and torch.equal(samples[0]['gt'], samples[1]['gt'])


def test_degraded_dataset_gt_only_for_model_side_degradation(hr_folder):
    """degrade_in_dataset: false leaves the LR to degrade_batch, which then gives the right size."""
    dataset = build_dataset(degraded_options(hr_folder, degrade_in_dataset=False))
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    assert set(batch) == {'gt', 'gt_path'}
    assert degrade_batch(batch['gt'], dataset.degradation).shape == (2, 3, 8, 8)


def test_degraded_dataset_lmdb_and_bad_image(hr_folder, tmp_path):
    """HR from LMDB works; a corrupt HR file is named, or skipped with skip_bad_images."""
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs
    names = [f'{i}.png' for i in range(4)]
    make_lmdb_from_imgs(hr_folder, str(tmp_path / 'HR.lmdb'), names, [n[:-4] for n in names])
    dataset = build_dataset(degraded_options(str(tmp_path / 'HR.lmdb'), io_backend={'type': 'lmdb'}))
    assert dataset[3]['lq'].shape == (3, 8, 8) and dataset[3]['gt_path'] == '3'
    open(f'{hr_folder}/1.png', 'wb').close()
    with pytest.raises(ValueError, match=r'1\.png.*empty'):
        build_dataset(degraded_options(hr_folder))[1]
    assert build_dataset(degraded_options(hr_folder, skip_bad_images=True))[1]['gt_path'].endswith('2.png')
