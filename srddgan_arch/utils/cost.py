"""What a call costs, for the benchmarks: its FLOPs (PyTorch's ``FlopCounterMode``) and its wall and CPU time."""
import time

import torch
from torch.utils.flop_counter import FlopCounterMode


class _TotalsOnly:
    """Stands in for ``FlopCounterMode``'s module tracker: its backward hooks make ``torch.autograd.grad`` on a leaf
    input fail ("A leaf node was passed to _will_engine_execute_node"), which is the R1 penalty's gradient."""

    parents = ('Global', )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def count_gflops(function):
    """GFLOPs of one call of ``function``, forward, backward and double backward (``FlopCounterMode``: 2 FLOPs per
    multiply-add of the convolutions and matrix products; element-wise operations are not counted).

    Args:
        function (callable): Called once, without arguments.

    Returns:
        float: GFLOPs.
    """
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _TotalsOnly()
    with counter:
        function()
    return counter.get_total_flops() / 1e9


def synchronize(device):
    """Wait for the device's queued work (CUDA), so that wall times cover it."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_ms(function, device, warmup, reps):
    """Mean wall time and CPU time (this process, all threads) of ``function`` in ms per call, after ``warmup``
    untimed calls. On a shared machine the CPU time is the steadier measure.

    Args:
        function (callable): Called without arguments.
        device (torch.device): Where it runs (CUDA is synchronised around the timed calls).
        warmup (int): Untimed calls first.
        reps (int): Timed calls, at least 1.

    Returns:
        tuple[float, float]: Wall and CPU milliseconds per call.
    """
    for _ in range(warmup):
        function()
    synchronize(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(reps):
        function()
    synchronize(device)
    return (time.perf_counter() - start) / reps * 1000, (time.process_time() - start_cpu) / reps * 1000
