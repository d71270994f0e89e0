"""``num_gpu`` against this machine's CUDA devices (``options/devices.py``), for BasicSR's models and srddgan's."""
import re
import sys

import pytest
import torch
import yaml

from srddgan_arch.commands import pipeline
from srddgan_arch.commands import test as test_command
from srddgan_arch.options import OptionError
from srddgan_arch.options.devices import check_num_gpu

# BasicSR's options/test/ESRGAN/test_ESRGAN_x4.yml (BasicSR 1.4.2) as shipped: num_gpu 1, crop border 4
BASICSR_ESRGAN_TEST = {
    'name': 'ESRGAN_SRx4_DF2KOST_official', 'model_type': 'ESRGANModel', 'scale': 4, 'num_gpu': 1,
    'manual_seed': 0,
    'datasets': {'test_1': {'name': 'Set5', 'type': 'PairedImageDataset', 'dataroot_gt': 'datasets/Set5/GTmod12',
                            'dataroot_lq': 'datasets/Set5/LRbicx4', 'io_backend': {'type': 'disk'}}},
    'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 23,
                  'num_grow_ch': 32},
    'path': {'pretrain_network_g': 'experiments/pretrained_models/ESRGAN/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth',
             'strict_load_g': True},
    'val': {'save_img': True, 'suffix': None,
            'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': False}}},
}


def _cuda(monkeypatch, devices):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: devices > 0)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: devices)


@pytest.mark.parametrize('model_type', ['ESRGANModel', 'SRBaselineModel'])
@pytest.mark.parametrize('devices, num_gpu, message', [
    (0, 1, r'num_gpu: 1, but this machine has no usable CUDA device .*set num_gpu: 0 \(or auto\)'),
    (2, 4, r'num_gpu: 4, but 2 CUDA devices are visible.*: set num_gpu: 2 or auto\.'),
])
def test_basicsr_test_file_with_more_gpus_than_present_is_one_line(tmp_path, monkeypatch, capsys, model_type,
                                                                  devices, num_gpu, message):
    """BasicSR's ESRGAN test file as shipped (``num_gpu: 1``) on a machine without CUDA, or asking for more devices
    than are visible, stops srddgan-test with one line saying what to set, before anything is built (the data
    folders it names do not exist: their check would come later)."""
    _cuda(monkeypatch, devices)
    option_file = tmp_path / 'test_ESRGAN_x4.yml'
    option_file.write_text(yaml.safe_dump({**BASICSR_ESRGAN_TEST, 'model_type': model_type, 'num_gpu': num_gpu}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, 'project_root', lambda: str(tmp_path))  # results/ of a run that goes on stay there
    monkeypatch.setattr(sys, 'argv', ['srddgan-test', '-opt', str(option_file)])
    with pytest.raises(SystemExit) as exit_info:
        test_command.test()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith('srddgan-test: error: ') and re.search(message, err), err


@pytest.mark.parametrize('num_gpu, devices', [(0, 0), ('auto', 0), (1, 1), (2, 2), ('auto', 8)])
def test_num_gpu_that_the_machine_has_passes(num_gpu, devices):
    """0, ``auto`` (BasicSR makes it the visible device count, 0 without CUDA) and up to the visible devices pass."""
    check_num_gpu({'num_gpu': num_gpu}, cuda_devices=devices)


@pytest.mark.parametrize('num_gpu', [-1, 1.5, 'all', True])
def test_num_gpu_of_another_kind_is_refused(num_gpu):
    """Anything but auto or an int >= 0 is named."""
    with pytest.raises(OptionError, match=r'num_gpu must be auto or an int >= 0'):
        check_num_gpu({'num_gpu': num_gpu}, cuda_devices=8)
