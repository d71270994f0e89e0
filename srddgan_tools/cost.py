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


def time_interleaved(functions, device, warmup, reps):
    """Wall and CPU times of several functions measured in turn: ``reps`` rounds, in each of which every function is
    called ``warmup`` times untimed and then once timed. Each timed call follows calls of its own function (its
    weights in the caches, as when one model upsamples image after image), and every function sees the same swings of
    a shared machine's load. The fastest call is the steadier figure there (the load only ever adds time); the mean
    is reported beside it.

    Args:
        functions (list[callable]): Called without arguments.
        device (torch.device): Where they run (CUDA is synchronised around each timed call).
        warmup (int): Untimed calls before each timed call.
        reps (int): Rounds, at least 1.

    Returns:
        list[dict]: Per function: ``ms`` (mean wall time per call), ``best_ms`` (fastest call) and ``cpu_ms`` (mean
        CPU time of this process, all threads).
    """
    wall, cpu = [[] for _ in functions], [[] for _ in functions]
    for _ in range(reps):
        for index, function in enumerate(functions):
            for _ in range(warmup):
                function()
            synchronize(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            synchronize(device)
            wall[index].append((time.perf_counter() - start) * 1000)
            cpu[index].append((time.process_time() - start_cpu) * 1000)
    return [dict(ms=sum(w) / len(w), best_ms=min(w), cpu_ms=sum(c) / len(c)) for w, c in zip(wall, cpu, strict=True)]
