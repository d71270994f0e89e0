"""The non-finite guard at checkpoints: weights are checked before they are written, and a stopped run names the
real last good checkpoint (the last one saved with no skipped update pending), not the models folder."""
import copy
import os

import pytest
import torch
from basicsr.models import build_model
from basicsr.utils import get_root_logger
from conftest import tiny_srddgan_options
from test_model import random_batch


@pytest.fixture
def model(tmp_path):
    """A tiny SRDDGANModel (max_nonfinite_steps 3, no VGG) with its output folders."""
    opt = tiny_srddgan_options(tmp_path)
    opt['train']['content_style_opt'] = None
    for folder in ('models', 'states'):
        os.makedirs(tmp_path / folder)
    return build_model(opt)


def _step(model, current_iter, good):
    batch = random_batch(seed=current_iter)
    if not good:
        batch['gt'][:] = float('nan')
    model.feed_data(batch)
    model.optimize_parameters(current_iter)


def test_a_stopped_run_names_the_last_checkpoint_saved_before_the_bad_steps(model, tmp_path, caplog):
    """A checkpoint saved while updates are being skipped is written with a warning and not taken as good; the stop
    names the last good one and how to continue from it (--auto_resume would take the newest)."""
    _step(model, 1, good=True)
    model.save(0, 1)
    for current_iter in (2, 3):
        _step(model, current_iter, good=False)
    get_root_logger().propagate = True  # (BasicSR's logger does not propagate to caplog)
    model.save(0, 3)
    assert 'Saving iteration 3 after 2 skipped updates in a row: it may not be a good checkpoint' in caplog.text
    assert model.last_good_checkpoint == 1 and os.path.isfile(tmp_path / 'states' / '3.state')
    _step(model, 4, good=False)
    with pytest.raises(RuntimeError, match=r'The last good checkpoint is iteration 1: .*path:resume_state=.*states/1\.'
                                           r'state \(--auto_resume takes the newest'):
        model.get_current_log()


def test_a_run_that_never_saved_before_the_bad_steps_says_so(model):
    """No good checkpoint: the message says to start again, not to resume."""
    for current_iter in (1, 2, 3):
        _step(model, current_iter, good=False)
    with pytest.raises(RuntimeError, match='No checkpoint was saved before the non-finite steps: start again'):
        model.save(0, 3)


def test_weights_holding_nan_are_never_written(model, tmp_path):
    """Weights that became NaN are refused before any file of the checkpoint is written."""
    _step(model, 1, good=True)
    model.save(0, 1)
    files = sorted(os.listdir(tmp_path / 'models'))
    broken = copy.deepcopy(model.net_d.state_dict())
    broken[next(iter(broken))].fill_(float('nan'))
    model.net_d.load_state_dict(broken)
    with pytest.raises(RuntimeError, match=r'Not saving iteration 2: the weights hold NaN or inf\. The last good '
                                           r'checkpoint is iteration 1'):
        model.save(0, 2)
    assert sorted(os.listdir(tmp_path / 'models')) == files and not os.path.isfile(tmp_path / 'states' / '2.state')
    assert torch.isnan(model.net_d.state_dict()[next(iter(broken))]).all()
