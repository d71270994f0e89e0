"""Mixed precision and the device queue in a training step: fp16 trains (D's small-variance statistic in float32,
every step GradScaler skips counted), bf16 and fp32 train, and a step reads nothing back from the device."""
import copy

import pytest
import torch
from basicsr.models import build_model
from conftest import tiny_srddgan_options
from test_model import random_batch
from torch.utils._python_dispatch import TorchDispatchMode

from srddgan_arch.archs.srddgan_discriminator_arch import minibatch_stddev

HOST_READS = ('_local_scalar_dense', 'item', 'is_nonzero')


class CountHostReads(TorchDispatchMode):
    """Counts the operators that copy a device value to a Python number (a stall of the GPU's queue)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in HOST_READS:
            self.reads.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def amp_model(tmp_path, amp_dtype):
    """A tiny SRDDGANModel (no VGG) training under CPU autocast in ``amp_dtype`` (None: float32), R1 every step."""
    opt = tiny_srddgan_options(tmp_path)
    opt['train'].update(content_style_opt=None, use_amp=amp_dtype is not None, amp_dtype=amp_dtype or 'bfloat16')
    return build_model(opt)


@pytest.mark.parametrize('batch', [1, 2, 5])
def test_minibatch_stddev_has_finite_gradients_in_float16(batch):
    """In float16, 1e-8 rounds to 0: a group of one sample (or equal samples) made sqrt(0)'s gradient inf, then NaN.
    The statistic is computed in float32 and returned in the input's type."""
    x = torch.randn(batch, 4, 4, 4).half().requires_grad_(True)
    out = minibatch_stddev(x)
    out.float().sum().backward()
    assert out.dtype == torch.float16 and torch.isfinite(x.grad).all()


@pytest.mark.slow  # (it trains: 8 iterations)
def test_float16_trains_and_counts_every_skipped_step(tmp_path):
    """fp16 autocast on the CPU with GradScalers, a batch of one (a minibatch-stddev group of one): D and G step
    beyond GradScaler's first few skips, and nonfinite_skipped counts every iteration in which GradScaler (or the
    guard) skipped an update."""
    model = amp_model(tmp_path, 'float16')
    assert model.use_amp and model.scaler_d.is_enabled() and model.scaler_g.is_enabled()
    skipped = []
    for current_iter in range(1, 9):
        before = [copy.deepcopy(net.state_dict()) for net in (model.net_d, model.net_g)]
        model.feed_data(random_batch(batch=1, seed=current_iter))
        model.optimize_parameters(current_iter)
        stepped = [any(not torch.equal(v, old[k]) for k, v in net.state_dict().items())
                   for net, old in zip((model.net_d, model.net_g), before, strict=True)]
        skipped.append(not all(stepped))
    assert not any(skipped[4:]), skipped  # GradScaler's scale starts at 2**16 and halves at each skip
    assert model.get_current_log()['nonfinite_skipped'] == sum(skipped)


@pytest.mark.parametrize('amp_dtype, most', [(None, 0), ('bfloat16', 0), ('float16', 1)])
def test_a_training_step_reads_nothing_back(tmp_path, amp_dtype, most):
    """A training iteration (R1, EMA, non-finite guard) queues its work without reading a device value back to the
    host (aten._local_scalar_dense: .item(), bool(), a tensor given where a number is expected); fp16 at most once.
    The loss log is read once, at logging iterations only."""
    model = amp_model(tmp_path, amp_dtype)
    for current_iter in (1, 2):
        model.feed_data(random_batch(seed=current_iter))
        with CountHostReads() as counter:
            model.optimize_parameters(current_iter)
        assert len(counter.reads) <= most, (current_iter, counter.reads)
    assert model.get_current_log()['nonfinite_skipped'] <= 2
