"""Real-ESRGAN's pipeline for SRDDGAN: the data set, the model-side degradation against BasicSR's own, the start-up
checks, the meta_info script, a CPU training run (``pytest -k realesr``)."""
import copy
import random

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.data import build_dataset
from basicsr.models import build_model
from basicsr.models.realesrnet_model import RealESRNetModel
from conftest import load_script, tiny_srddgan_options, write_paired_images

from srddgan_arch.data.image_files import BadImageError
from srddgan_arch.data.preflight import check_data_sets
from srddgan_arch.data.realesrgan_options import RealESRGANOptions, with_defaults
from srddgan_arch.options import OptionError

# a short Real-ESRGAN recipe for 64-px crops: every stage on, the second blur and the final sinc filter always
REALESRGAN = {'queue_size': 4, 'second_blur_prob': 1.0, 'resize_range': [0.5, 1.5], 'resize_range2': [0.5, 1.2]}


def write_hr(folder, sizes, seed=0):
    """Smooth random HR PNGs of the given (h, w) sizes in ``folder``; returns their names."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index, (h, w) in enumerate(sizes):
        coarse = rng.uniform(0, 255, (6, 6, 3)).astype(np.float32)
        img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 6, (h, w, 3))
        names.append(f'{index:02d}.png')
        cv2.imwrite(str(folder / names[-1]), np.clip(img, 0, 255).astype(np.uint8))
    return names


def dataset_options(root, names, type_='SRDDGANRealESRGANDataset', **extra):
    """A Real-ESRGAN training set over ``root/HR`` with its meta_info file."""
    meta_info = root / 'meta_info.txt'
    meta_info.write_text(''.join(f'{name}\n' for name in names))
    return {'name': 'train', 'type': type_, 'phase': 'train', 'scale': 4, 'dataroot_gt': str(root / 'HR'),
            'meta_info': str(meta_info), 'io_backend': {'type': 'disk'}, 'gt_size': 32, 'crop_pad_size': 64,
            'use_hflip': True, 'use_rot': True, 'sinc_prob2': 0.5, 'final_sinc_prob': 1.0,
            'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0, **extra}


def batch_of(dataset, indices):
    """A collated training batch of ``dataset`` samples."""
    return torch.utils.data.default_collate([dataset[i] for i in indices])


def seeded(seed):
    """Seed python's, numpy's and torch's generators alike."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def test_realesrgan_dataset_matches_basicsr_dataset(tmp_path):
    """With crop_pad_size 400 a seed gives BasicSR's RealESRGANDataset's HR crop and its three kernels exactly."""
    names = write_hr(tmp_path / 'HR', [(420, 410), (400, 430)])
    ours = build_dataset(dataset_options(tmp_path, names, crop_pad_size=400))
    # BasicSR's data set reads every key: Real-ESRGAN's defaults, as its option files write them
    basicsr_opt = dataset_options(tmp_path, names, 'RealESRGANDataset_basicsr', crop_pad_size=400)
    basicsr = build_dataset(with_defaults(basicsr_opt))
    for index in (0, 1, 1):
        seeded(index)
        expected = basicsr[index]
        seeded(index)
        sample = ours[index]
        assert sample['gt'].shape == (3, 400, 400)
        for key in ('gt', 'kernel1', 'kernel2', 'sinc_kernel'):
            assert torch.equal(sample[key], expected[key]), key


def test_realesrgan_dataset_crop_pad_size_and_small_images(tmp_path):
    """crop_pad_size sets the HR crop; an image smaller than it is named (not padded), or skipped."""
    names = write_hr(tmp_path / 'HR', [(80, 70), (40, 90), (64, 64)])
    dataset = build_dataset(dataset_options(tmp_path, names))
    sample = dataset[0]
    assert sample['gt'].shape == (3, 64, 64) and sample['kernel1'].shape == (21, 21)
    assert abs(sample['kernel1'].sum().item() - 1) < 1e-4 and abs(sample['sinc_kernel'].sum().item() - 1) < 1e-4
    with pytest.raises(BadImageError, match=r'01\.png.*smaller than crop_pad_size 64'):
        dataset[1]
    skipping = build_dataset(dataset_options(tmp_path, names, skip_bad_images=True))
    assert skipping[1]['gt_path'].endswith('02.png')


def realesrgan_model_options(tmp_path, names):
    """Tiny SRDDGANModel options training on a Real-ESRGAN data set with the realesrgan section."""
    opt = tiny_srddgan_options(tmp_path)
    opt['datasets']['train'] = dataset_options(tmp_path, names)
    opt['realesrgan'] = dict(REALESRGAN)
    return opt


def basicsr_realesrnet(opt):
    """BasicSR's own RealESRNetModel with the same degradation keys at its top level (as Real-ESRGAN's option files
    have them), on the CPU: compat redirects the .cuda() of its __init__ and its pool to the model's device."""
    settings = {**vars(RealESRGANOptions.from_dict(opt['realesrgan'])), 'gt_size': opt['datasets']['train']['gt_size']}
    basicsr_opt = {'name': 'realesrnet', 'scale': 4, 'num_gpu': 0, 'is_train': False, 'dist': False,
                   'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4, 'num_block': 1,
                                 'num_grow_ch': 4},
                   'path': {'pretrain_network_g': None}, **settings}
    model = RealESRNetModel(basicsr_opt)
    model.is_train = True  # training-pair synthesis without BasicSR's training set-up (losses, optimisers)
    return model


def test_realesrgan_lr_and_gt_match_basicsr_realesrnet_feed_data(tmp_path):
    """The same HR batch, kernels and random state give SRDDGANModel.feed_data and BasicSR's RealESRNetModel.feed_data
    the same LR and target within 1e-6, over three batches (the third comes from the training-pair pool)."""
    names = write_hr(tmp_path / 'HR', [(64, 64)] * 4)
    opt = realesrgan_model_options(tmp_path, names)
    ours, theirs = build_model(copy.deepcopy(opt)), basicsr_realesrnet(opt)
    dataset = build_dataset(opt['datasets']['train'])
    for step in range(3):
        seeded(10 + step)
        batch = batch_of(dataset, [2 * (step % 2), 2 * (step % 2) + 1])
        seeded(100 + step)
        theirs.feed_data(copy.deepcopy(batch))
        seeded(100 + step)
        ours.feed_data(copy.deepcopy(batch))
        assert ours.lq.shape == (2, 3, 8, 8) and ours.gt.shape == (2, 3, 32, 32)
        assert torch.allclose(ours.lq, theirs.lq, atol=1e-6) and torch.allclose(ours.gt, theirs.gt, atol=1e-6)
    assert not torch.allclose(ours.lq, torch.nn.functional.avg_pool2d(ours.gt, 4), atol=0.02)


@pytest.mark.parametrize('change, message', [
    (lambda opt: opt['realesrgan'].update(queue_size=5), r'realesrgan.queue_size = 5 is not a multiple of '
                                                         r'datasets.train.batch_size_per_gpu = 2'),
    (lambda opt: opt['realesrgan'].update(resize_prb=[0.2, 0.7, 0.1]), "realesrgan.resize_prb.*'resize_prob'"),
    (lambda opt: opt.pop('realesrgan'), 'add the realesrgan section'),
    (lambda opt: opt['datasets']['train'].update(crop_pad_size=128), r'2 of 3 HR images are smaller than '
                                                                     r'crop_pad_size 128: 00\.png \(70x80\)'),
    (lambda opt: opt['datasets']['train'].pop('meta_info'), 'meta_info is missing.*generate_meta_info.py'),
    (lambda opt: opt['datasets']['train'].update(type='RealESRGANDataset_basicsr'), 'crop_pad_size.*crops to 400'),
    (lambda opt: opt['datasets']['train'].update(kernel_lst=['iso']), "kernel_lst.*'kernel_list'"),
])
def test_realesrgan_mistakes_are_refused_at_start_up(tmp_path, change, message):
    """A pool that is not a multiple of the batch, images smaller than the crop, misspelt keys, a missing section or
    meta_info: one error each, naming it, before anything is built."""
    names = write_hr(tmp_path / 'HR', [(80, 70), (128, 90), (140, 150)])
    opt = realesrgan_model_options(tmp_path, names)
    change(opt)
    with pytest.raises(OptionError, match=message):
        check_data_sets(opt)


def test_realesrgan_generate_meta_info_lists_an_hr_folder(tmp_path):
    """The script lists every image of an HR folder (sub-folders too) relative to it, leaves out those below
    --min_size, and does not replace an existing file without --force; the data set reads the file."""
    names = write_hr(tmp_path / 'HR', [(80, 70), (40, 90)])
    write_hr(tmp_path / 'HR' / 'sub', [(72, 72)])
    script = load_script('generate_meta_info')
    meta_info = tmp_path / 'meta' / 'meta_info.txt'
    count, left_out = script.main(['--input', str(tmp_path / 'HR'), '--meta_info', str(meta_info), '--min_size',
                                   '64'])
    assert count == 2 and meta_info.read_text() == '00.png\nsub/00.png\n' and left_out[0].startswith('01.png')
    with pytest.raises(FileExistsError, match='--overwrite'):
        script.main(['--input', str(tmp_path / 'HR'), '--meta_info', str(meta_info)])
    opt = dataset_options(tmp_path, names)
    dataset = build_dataset(dict(opt, meta_info=str(meta_info)))
    assert len(dataset) == 2 and dataset[1]['gt_path'].endswith('sub/00.png')


@pytest.mark.slow
def test_realesrgan_training_run_on_cpu(tmp_path, monkeypatch):
    """BasicSR's train pipeline trains SRDDGAN on Real-ESRGAN's degradation on the CPU for 4 iterations and validates
    on paired data, through the option checks: losses logged, checkpoints written, validation PSNR reported."""
    from test_train_pipeline import run_pipeline
    names = write_hr(tmp_path / 'train' / 'HR', [(72, 80)] * 4)
    hr_dir, lr_dir = write_paired_images(str(tmp_path / 'val'), num_images=2)
    opt = tiny_srddgan_options(tmp_path)
    for key in ('is_train', 'dist', 'rank', 'world_size', 'path'):
        opt.pop(key)
    opt.update(name='tiny_realesrgan', path={'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
               realesrgan=dict(REALESRGAN), lr_consistency={'downsampler': 'none'})
    opt['train']['total_iter'] = 4
    opt['val'] = {'val_freq': 4, 'num_samples': 1, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}}
    opt['logger']['save_checkpoint_freq'] = 4
    opt['datasets'] = {'train': dataset_options(tmp_path / 'train', names),
                       'val': {'name': 'val', 'type': 'PairedImageDataset', 'dataroot_gt': hr_dir,
                               'dataroot_lq': lr_dir, 'io_backend': {'type': 'disk'}}}
    opt['datasets']['train'].pop('phase')
    opt['datasets']['train'].pop('scale')
    opt_path = tmp_path / 'opt.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    root = tmp_path / 'root'
    root.mkdir()
    log = run_pipeline(root, opt_path, monkeypatch)
    assert 'l_g_adv' in log and 'l_d_real' in log and '# psnr:' in log
    assert (root / 'experiments' / 'tiny_realesrgan' / 'models' / 'net_g_4.pth').is_file()
