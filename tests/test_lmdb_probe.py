"""The data probed at start-up (srddgan_arch.data.lmdb_probe, data/preflight.py): LMDB environments cut off, empty,
missing keys or undecodable images, and HR images smaller than gt_size anywhere in a training set, each one line
naming the folder or file before BasicSR builds the data sets."""
import os
import shutil

import cv2
import lmdb
import numpy as np
import pytest
from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from conftest import run_options, write_paired_images

from srddgan_arch.data.lmdb_probe import check_lmdb
from srddgan_arch.data.preflight import check_data
from srddgan_arch.options import OptionError


@pytest.fixture
def hr_lmdb(tmp_path):
    """An LMDB of eight 32x32 HR images as BasicSR's writer makes it (data.mdb, meta_info.txt)."""
    hr_dir, _ = write_paired_images(str(tmp_path / 'data'))
    names = sorted(os.listdir(hr_dir))
    make_lmdb_from_imgs(hr_dir, str(tmp_path / 'HR.lmdb'), names, [n[:-4] for n in names], map_size=1 << 22)
    return tmp_path / 'HR.lmdb'


def test_a_whole_lmdb_passes(hr_lmdb):
    """A complete environment whose keys match its meta_info.txt passes."""
    check_lmdb('datasets.train.dataroot_gt', str(hr_lmdb))


def test_a_cut_off_data_mdb_is_named_instead_of_sigbus(hr_lmdb):
    """data.mdb shorter than the pages the environment uses (a copy interrupted): named with both sizes, read from the
    environment's meta pages alone (reading past the end would kill the process with SIGBUS)."""
    data = hr_lmdb / 'data.mdb'
    with lmdb.open(str(hr_lmdb), readonly=True, lock=False) as env:
        used = (env.info()['last_pgno'] + 1) * env.stat()['psize']
    os.truncate(data, used - 4096)
    with pytest.raises(OptionError, match=rf'datasets\.train\.dataroot_gt: {data} is cut off: {used - 4096:,} bytes, '
                                          rf'but its pages need {used:,}'):
        check_lmdb('datasets.train.dataroot_gt', str(hr_lmdb))


@pytest.mark.parametrize('change, message', [
    (lambda folder: os.truncate(folder / 'data.mdb', 0), r'data\.mdb is empty: prepare the LMDB again'),
    (lambda folder: os.remove(folder / 'data.mdb'), r'data\.mdb is missing'),
    (lambda folder: (folder / 'meta_info.txt').open('a').write('100.png (32,32,3) 1\n101.png (32,32,3) 1\n'),
     r'2 of the 10 keys that .*HR\.lmdb/meta_info\.txt lists are not in the LMDB: 100, 101\. Prepare it again'),
])
def test_lmdb_mistakes_are_named(hr_lmdb, change, message):
    """An empty or missing data.mdb ("Bad file descriptor" before), and keys meta_info.txt lists that the LMDB lacks
    (an error only when training reached them), are named at start-up."""
    change(hr_lmdb)
    with pytest.raises(OptionError, match=rf'datasets\.train\.dataroot_gt: .*{message}'):
        check_lmdb('datasets.train.dataroot_gt', str(hr_lmdb))


def test_an_undecodable_first_image_is_named(tmp_path):
    """The first image of the LMDB is decoded: bytes that are no image are named by folder and key."""
    folder = tmp_path / 'bad.lmdb'
    with lmdb.open(str(folder), map_size=1 << 20) as env, env.begin(write=True) as txn:
        txn.put(b'000', b'not an image')
    (folder / 'meta_info.txt').write_text('000.png (32,32,3) 1\n')
    with pytest.raises(OptionError, match=r'datasets\.val\.dataroot_gt: .*bad\.lmdb:000.*cannot be decoded'):
        check_lmdb('datasets.val.dataroot_gt', str(folder))


@pytest.mark.parametrize('backend', ['disk', 'lmdb'])
def test_an_hr_image_smaller_than_gt_size_anywhere_is_named(tmp_path, backend):
    """Not only the first: any HR image of the training set smaller than gt_size is named at start-up (BasicSR's
    crop failed mid-epoch), from the file headers or the LMDB's meta_info.txt."""
    opt = run_options(tmp_path)
    hr_dir, lr_dir = write_paired_images(str(tmp_path / 'data'), num_images=4)
    small = np.zeros((24, 16, 3), np.uint8)
    cv2.imwrite(os.path.join(hr_dir, '003.png'), small)
    cv2.imwrite(os.path.join(lr_dir, '003.png'), small[::4, ::4])
    if backend == 'lmdb':
        for folder in (hr_dir, lr_dir):
            names = sorted(os.listdir(folder))
            make_lmdb_from_imgs(folder, f'{folder}.lmdb', names, [n[:-4] for n in names], map_size=1 << 22)
            shutil.rmtree(folder)
        hr_dir, lr_dir = f'{hr_dir}.lmdb', f'{lr_dir}.lmdb'
    opt['datasets']['train'].update(dataroot_gt=hr_dir, dataroot_lq=lr_dir, io_backend={'type': backend})
    with pytest.raises(OptionError, match=r'datasets\.train\.gt_size = 32 is larger than 1 of the 4 HR images: '
                                          r'.*003\.png \(16x24\)\. Lower gt_size'):
        check_data(opt)
