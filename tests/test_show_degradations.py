"""scripts/show_degradations.py: the labelled grid of LR images an option file's training pipeline makes of a photo."""
from os import path as osp

import cv2
import numpy as np
import pytest
from conftest import load_script

OPTIONS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'options')


@pytest.fixture
def photo(tmp_path):
    """A 130x150 smooth colour photo with edges."""
    rows, cols = np.mgrid[0:130, 0:150]
    img = np.stack([rows * 1.5, cols * 1.2, 120 + 100 * ((rows // 20 + cols // 20) % 2)], axis=2)
    path = tmp_path / 'photo.png'
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
    return str(path)


def test_paper_pipeline_grid_is_labelled_and_repeatable(tmp_path, photo):
    """The paper's pipeline: the HR crop and N enlarged LR tiles (blank tiles fill the last row), each LR a quarter of
    the crop and labelled with its stage order, in which resize appears once; the same seed gives the same grid."""
    script = load_script('show_degradations')
    output = tmp_path / 'grid.png'
    argv = ['-opt', osp.join(OPTIONS, 'train_SRDDGAN_DIV2K_x4_degraded.yml'), '-i', photo, '-n', '3', '-o',
            str(output), '--crop', '48']
    assert script.main(argv) == (48 + script.LABEL_HEIGHT, 5 * 48, 3)
    first = cv2.imread(str(output))
    with pytest.raises(SystemExit):  # an -o that exists is replaced only when told
        script.main(argv)
    script.main([*argv, '--overwrite'])
    assert np.array_equal(first, cv2.imread(str(output)))
    hr = cv2.imread(photo).astype(np.float32)[41:89, 51:99] / 255
    opt = {'scale': 4}
    draws = script.paper_draws(hr, opt, {'degradation': {'jpeg_prob': 1.0}}, 3, 0)
    assert all(lr.shape == (12, 12, 3) and label.count('resize') == 1 for lr, label in draws)
    assert len({label for _, label in draws}) > 1


def test_realesrgan_pipeline_grid_and_refusals(tmp_path, photo):
    """Real-ESRGAN's pipeline draws different LR for each seed without its data on disk; an option file whose LR are
    files, and a crop too small for the second blur, are refused with a message."""
    script = load_script('show_degradations')
    output = tmp_path / 'grid.png'
    opt_path = osp.join(OPTIONS, 'train_SRDDGAN_RealESRGAN_x4.yml')
    assert script.main(['-opt', opt_path, '-i', photo, '-n', '2', '-o', str(output), '--crop', '96']) == (
        96 + script.LABEL_HEIGHT, 5 * 96, 3)
    tiles = cv2.imread(str(output))[script.LABEL_HEIGHT:, 96:288]
    assert not np.array_equal(tiles[:, :96], tiles[:, 96:])
    with pytest.raises(ValueError, match='larger --crop'):
        script.main(['-opt', opt_path, '-i', photo, '-n', '1', '-o', str(output), '--crop', '48', '--overwrite'])
    with pytest.raises(ValueError, match='reads its LR from files'):
        script.main(['-opt', osp.join(OPTIONS, 'train_SRDDGAN_demo_x4.yml'), '-i', photo, '-o', str(output),
                     '--overwrite'])
