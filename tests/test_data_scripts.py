"""The preparation scripts on tiny fake inputs in the original formats; results load with BasicSR's PairedImageDataset
from disk and from LMDB."""
import importlib.util
import os
import pickle
from os import path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
from basicsr.data.paired_image_dataset import PairedImageDataset
from conftest import RunsCommand

from srddgan_arch.data.image_files import BadImageError
from srddgan_tools.prepare import sub_image_corners

SCRIPTS = Path(__file__).resolve().parents[1] / 'scripts'


def script(name):
    """Import ``scripts/<name>.py`` as a module (to call its ``main(argv)`` in-process)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_pairs(split_dir, scale, lmdb, phase='val', gt_size=None):
    """BasicSR's own PairedImageDataset on a prepared split (disk or LMDB)."""
    suffix = '.lmdb' if lmdb else ''
    opt = {'dataroot_gt': f'{split_dir}/HR{suffix}', 'dataroot_lq': f'{split_dir}/LR_bicubic_X{scale}{suffix}',
           'io_backend': {'type': 'lmdb' if lmdb else 'disk'}, 'phase': phase, 'scale': scale}
    if phase == 'train':
        opt.update(gt_size=gt_size, use_hflip=True, use_rot=True)
    return PairedImageDataset(opt)


def write_images(folder, shapes, dtype=np.uint8):
    """Random images of the given shapes, named img0.png, img1.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, shape in enumerate(shapes):
        cv2.imwrite(str(folder / f'img{i}.png'), rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype))
    return str(folder)


def test_sub_image_grid_covers_the_border():
    """The grid steps by ``step`` and adds a border-aligned crop when pixels are left over."""
    corners = sub_image_corners(100, 64, 32, 32)
    assert sorted({t for t, _ in corners}) == [0, 32, 64, 68] and sorted({left for _, left in corners}) == [0, 32]
    assert sub_image_corners(20, 64, 32, 32) == []


@pytest.mark.parametrize('lmdb', [False, True])
def test_prepare_div2k(tmp_path, lmdb):
    """Two HR folders (one 16-bit, one gray, sizes not divisible by 4) -> 32-px sub-images with x2 and x4 LR."""
    div2k = write_images(tmp_path / 'DIV2K', [(70, 50, 3), (64, 64)])
    flickr = write_images(tmp_path / 'Flickr2K', [(33, 45, 3)], dtype=np.uint16)
    os.rename(f'{flickr}/img0.png', f'{flickr}/000001.png')
    out = str(tmp_path / 'out')
    argv = ['--input', div2k, flickr, '--output', out, '--crop-size', '32', '--step', '16', '--workers', '2']
    line = script('prepare_div2k').main(argv + (['--lmdb'] if lmdb else []))
    assert '1 16-bit' in line and '1 grayscale' in line
    names = sorted(os.listdir(f'{out}/HR'))
    assert 'img0_s001.png' in names and '000001_s001.png' in names
    for scale in (2, 4):
        dataset = load_pairs(out, scale, lmdb, phase='train', gt_size=32)
        assert len(dataset) == len(names)
        sample = dataset[0]
        assert sample['gt'].shape == (3, 32, 32) and sample['lq'].shape == (3, 32 // scale, 32 // scale)
    assert len(open(f'{out}/meta_info.txt').read().splitlines()) == len(names)


def test_prepare_div2k_whole_images_and_bad_file(tmp_path):
    """--crop-size 0 keeps whole images mod-cropped to the scales; a corrupt input stops with its name."""
    folder = write_images(tmp_path / 'val', [(70, 50, 3)])
    script('prepare_div2k').main(['--input', folder, '--output', str(tmp_path / 'o'), '--crop-size', '0',
                                  '--workers', '1'])
    assert cv2.imread(str(tmp_path / 'o' / 'HR' / 'img0.png')).shape == (68, 48, 3)
    assert cv2.imread(str(tmp_path / 'o' / 'LR_bicubic_X4' / 'img0.png')).shape == (17, 12, 3)
    (tmp_path / 'val' / 'broken.png').write_bytes(b'')
    with pytest.raises(BadImageError, match='broken.png'):
        script('prepare_div2k').main(['--input', folder, '--output', str(tmp_path / 'o2'), '--workers', '2'])


def test_prepare_div2k_refuses_existing_output(tmp_path):
    """Running twice into the same folder is refused with the folder named (no silent mixing)."""
    folder = write_images(tmp_path / 'in', [(32, 32, 3)])
    argv = ['--input', folder, '--output', str(tmp_path / 'o'), '--crop-size', '32', '--workers', '1']
    script('prepare_div2k').main(argv)
    with pytest.raises(FileExistsError, match='HR'):
        script('prepare_div2k').main(argv)


def test_prepare_div2k_reports_images_smaller_than_the_crop(tmp_path, capsys):
    """An image smaller than the crop is named with its size and counted in the summary; when every image is, the
    preparation stops saying so (not with a missing HR folder)."""
    folder = write_images(tmp_path / 'in', [(40, 40, 3), (20, 50, 3)])
    line = script('prepare_div2k').main(['--input', folder, '--output', str(tmp_path / 'o'), '--crop-size', '32',
                                         '--workers', '1'])
    assert 'skipped inputs: 1 (smaller than the 32-px crop)' in line
    assert f'{folder}/img1.png (20x50)' in capsys.readouterr().out
    with pytest.raises(ValueError, match=r'every input image was skipped: 2 \(smaller than the 64-px crop\)'):
        script('prepare_div2k').main(['--input', folder, '--output', str(tmp_path / 'o2'), '--crop-size', '64',
                                      '--workers', '1'])


@pytest.mark.parametrize('output', ['in', 'in/prepared'])
def test_prepare_refuses_output_inside_input(tmp_path, output):
    """An output folder equal to or inside the input folder is refused before anything is written."""
    folder = write_images(tmp_path / 'in', [(32, 32, 3)])
    for name in ('prepare_div2k', 'prepare_faces'):
        with pytest.raises(ValueError, match='inside --input'):
            script(name).main(['--input', folder, '--output', str(tmp_path / output), '--workers', '1'])
    assert os.listdir(folder) == ['img0.png']


def test_prepare_faces_skips_faces_below_the_hr_size(tmp_path, capsys):
    """A 60x50 face is not upscaled into a 128-px "HR" image: it is skipped and reported."""
    folder = write_images(tmp_path / 'faces', [(150, 140, 3), (60, 50, 3)])
    line = script('prepare_faces').main(['--input', folder, '--output', str(tmp_path / 'o'), '--workers', '1'])
    assert os.listdir(tmp_path / 'o' / 'HR') == ['img0.png']
    assert 'skipped inputs: 1 (smaller than the 128-px HR size)' in line
    assert f'{folder}/img1.png (60x50)' in capsys.readouterr().out


@pytest.mark.parametrize('lmdb', [False, True])
def test_prepare_faces(tmp_path, lmdb):
    """Face folders with subfolders (RGBA, non-square) -> HR 128 and LR 16 pairs."""
    faces = write_images(tmp_path / 'ffhq' / '00000', [(256, 256, 4), (150, 140, 3)])
    out = str(tmp_path / 'faces')
    line = script('prepare_faces').main(['--input', str(tmp_path / 'ffhq'), '--output', out, '--workers', '1']
                                        + (['--lmdb'] if lmdb else []))
    assert '1 RGBA' in line and os.path.isdir(faces)
    dataset = load_pairs(out, 8, lmdb)
    assert len(dataset) == 2
    assert dataset[1]['gt'].shape == (3, 128, 128) and dataset[1]['lq'].shape == (3, 16, 16)


def write_cifar(folder, per_batch=3):
    """Fake official CIFAR-10 python batches: dicts of bytes keys with b'data' rows of 3072 uint8 (RGB planes)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        batch = {b'batch_label': name.encode(), b'labels': [0] * per_batch,
                 b'data': rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b'filenames': [f'{name}_{i}.png'.encode() for i in range(per_batch)]}
        with open(folder / name, 'wb') as f:
            pickle.dump(batch, f)
    return str(folder)


@pytest.mark.parametrize('lmdb', [False, True])
def test_prepare_cifar10(tmp_path, lmdb):
    """Fake batches -> train (15) and test (3) splits of 32/16 pairs, HR pixels equal to the pickled RGB planes."""
    batches = write_cifar(tmp_path / 'cifar-10-batches-py')
    out = str(tmp_path / 'cifar')
    script('prepare_cifar10').main(['--input', batches, '--output', out, '--workers', '2']
                                   + (['--lmdb'] if lmdb else []))
    train, test = load_pairs(f'{out}/train', 2, lmdb), load_pairs(f'{out}/test', 2, lmdb)
    assert len(train) == 15 and len(test) == 3
    assert train[0]['gt'].shape == (3, 32, 32) and train[0]['lq'].shape == (3, 16, 16)
    with open(f'{batches}/data_batch_1', 'rb') as f:
        first = pickle.load(f)[b'data'][0].reshape(3, 32, 32)
    index = [osp.splitext(osp.basename(p['gt_path']))[0] for p in train.paths].index('00000')
    assert np.array_equal((train[index]['gt'].numpy() * 255).round().astype(np.uint8), first)


def test_prepare_cifar10_bad_batch(tmp_path):
    """A missing or garbled batch file is named."""
    batches = write_cifar(tmp_path / 'cifar-10-batches-py', per_batch=1)
    (tmp_path / 'cifar-10-batches-py' / 'test_batch').write_bytes(b'garbage')
    with pytest.raises(ValueError, match='test_batch'):
        script('prepare_cifar10').main(['--input', batches, '--output', str(tmp_path / 'o'), '--workers', '1'])
    os.remove(tmp_path / 'cifar-10-batches-py' / 'data_batch_3')
    with pytest.raises(FileNotFoundError, match='data_batch_3'):
        script('prepare_cifar10').main(['--input', batches, '--output', str(tmp_path / 'o'), '--workers', '1'])


def test_prepare_cifar10_runs_no_code_from_a_batch_file(tmp_path):
    """A batch file whose pickle reduces to ``os.system('touch PWNED')`` is refused, and the command never runs."""
    batches = write_cifar(tmp_path / 'cifar-10-batches-py', per_batch=1)
    marker = tmp_path / 'PWNED'
    with open(tmp_path / 'cifar-10-batches-py' / 'data_batch_1', 'wb') as f:
        pickle.dump({b'data': RunsCommand(f'touch {marker}')}, f)
    with pytest.raises(ValueError, match=r'data_batch_1.*refusing posix\.system'):
        script('prepare_cifar10').main(['--input', batches, '--output', str(tmp_path / 'o'), '--workers', '1'])
    assert not marker.exists()


def test_prepare_demo_data(tmp_path):
    """The demo set has the fixed layout (the held-out photographs whole), loads from disk and LMDB, is small, and a
    second run is skipped."""
    out = str(tmp_path / 'demo')
    result = script('prepare_demo_data').main(['--output', out, '--lmdb'])
    assert not result['skipped'] and result['train'] >= 40 and 2 <= result['val'] <= 4 and result['heldout'] == 4
    assert sorted(os.listdir(f'{out}/heldout/HR')) == ['camera.png', 'coins.png', 'grace_hopper.png', 'moon.png']
    for split in ('train', 'val', 'heldout'):
        assert os.listdir(f'{out}/{split}/HR') == os.listdir(f'{out}/{split}/LR_bicubic_X4')
    for lmdb in (False, True):
        val = load_pairs(f'{out}/val', 4, lmdb)
        assert val[0]['gt'].shape == (3, 128, 128) and val[0]['lq'].shape == (3, 32, 32)
        assert load_pairs(f'{out}/train', 4, lmdb, phase='train', gt_size=128)[0]['lq'].shape == (3, 32, 32)
    size = sum(f.stat().st_size for f in Path(out).rglob('*.png'))
    assert size < 6 * 2**20
    assert script('prepare_demo_data').main(['--output', out])['skipped']


def test_interrupted_preparation_is_marked_and_refused_by_training(tmp_path, monkeypatch):
    """Ctrl-C half-way through prepare_div2k leaves its output marked incomplete, and the start-up checks refuse it
    (107 of 600 pairs were used without a word); a finished preparation leaves no marker."""
    from srddgan_arch.data.preflight import _check_folder
    from srddgan_arch.options import OptionError
    from srddgan_tools import paper_datasets, prepare

    div2k = write_images(tmp_path / 'DIV2K', [(64, 64, 3)] * 3)
    out = str(tmp_path / 'out')
    saved, save = [], paper_datasets.save_hr_lr

    def interrupted(*args, **kwargs):  # (a real KeyboardInterrupt would stop pytest too)
        if len(saved) == 2:
            raise InterruptedError('Ctrl-C')
        saved.append(save(*args, **kwargs))

    monkeypatch.setattr(paper_datasets, 'save_hr_lr', interrupted)
    argv = ['--input', div2k, '--output', out, '--crop-size', '32', '--step', '32', '--workers', '1']
    with pytest.raises(InterruptedError):
        script('prepare_div2k').main(argv)
    assert osp.isfile(osp.join(out, prepare.INCOMPLETE_MARKER)) and len(os.listdir(f'{out}/HR')) == 2
    with pytest.raises(OptionError, match=r'datasets\.train\.dataroot_gt: .*out is marked incomplete'):
        _check_folder('datasets.train.dataroot_gt', f'{out}/HR', 'disk')
    monkeypatch.undo()
    script('prepare_div2k').main(argv[:3] + [str(tmp_path / 'done')] + argv[4:])
    assert not osp.exists(tmp_path / 'done' / prepare.INCOMPLETE_MARKER)
    _check_folder('datasets.train.dataroot_gt', str(tmp_path / 'done' / 'HR'), 'disk')
