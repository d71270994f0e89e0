"""Speed of srddgan-infer's two backends on the same image in the same run: torch and ONNX Runtime + numpy.

    python scripts/benchmark_backends.py -opt train_SRDDGAN_demo_x4 [--model_path G.pth] [--lr_size 64] [--reps 3]

Builds the option file's generator (the checkpoint's weights, or random ones: speed does not depend on them), exports
it to ONNX in a temporary folder, and times ``enhance`` of one smooth colour image of ``--lr_size`` pixels (square) on
the CPU in fp32 with the option file's sampler (T steps, LR consistency) and the same seed for both backends: the
torch ``SRDDGANer`` and ``srddgan_runtime.OnnxUpsampler``. Prints ms/image of each, their largest pixel difference
(0-255) and ends with ``onnxruntime_over_torch: <ms ratio>``. Needs the ``[onnx]`` extra.
"""
import argparse
import sys
import tempfile
import time
from os import path as osp

import numpy as np
import torch

from srddgan_arch.cli_errors import run_main
from srddgan_arch.device import keep_freed_memory
from srddgan_arch.inference.loading import load_option_file
from srddgan_arch.inference.onnx_export import export_onnx
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.option_files import option_file_argument
from srddgan_runtime import LRConsistency, OnnxUpsampler, Schedule

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def smooth_image(size):
    """A smooth BGR float image in [0, 1] of ``size`` x ``size`` pixels."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([np.sin(x / 5), np.cos(y / 7), np.sin((x + y) / 9)], axis=2) * 0.4 + 0.5


def time_ms(run, reps):
    """Best wall time of ``reps`` calls after one untimed call, in ms, and the last result."""
    result, best = run(), float('inf')
    for _ in range(reps):
        start = time.perf_counter()
        result = run()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best, result


def main(argv=None):
    """Parse ``argv``, export, time both backends and print the figures; returns the ms ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', '--opt', required=True, type=option_file_argument, help='Option file with network_g.')
    parser.add_argument('--model_path', help='Checkpoint. Default: random weights.')
    parser.add_argument('--lr_size', type=int, default=64, help='LR size (square). Default: 64.')
    parser.add_argument('--reps', type=int, default=3, help='Timed calls per backend (best kept). Default: 3.')
    args = parser.parse_args(argv)
    keep_freed_memory()
    with tempfile.TemporaryDirectory() as folder:
        model_path = args.model_path
        if model_path is None:
            from basicsr.archs import build_network

            torch.manual_seed(0)
            model_path = osp.join(folder, 'random.pth')
            torch.save({'params_ema': build_network(load_option_file(args.opt).network_g).state_dict()}, model_path)
        upsampler = build_upsampler(args.opt, model_path, device='cpu')
        onnx_dir = export_onnx(args.opt, model_path, osp.join(folder, 'onnx'))
        consistency = LRConsistency(upsampler.lr_consistency.downsampler, upsampler.lr_consistency.iterations)
        onnx_upsampler = OnnxUpsampler(onnx_dir, schedule=Schedule.from_dict(upsampler.schedule.to('cpu')),
                                       lr_consistency=consistency)
        img = smooth_image(args.lr_size)
        torch_ms, torch_out = time_ms(lambda: upsampler.enhance(img, seed=0), args.reps)
        onnx_ms, onnx_out = time_ms(lambda: onnx_upsampler.enhance(img, seed=0), args.reps)
    difference = np.abs(np.round(torch_out * 255) - np.round(onnx_out * 255)).max()
    print(f'{osp.basename(args.opt)}: LR {args.lr_size}x{args.lr_size} -> {torch_out.shape[1]}x{torch_out.shape[0]}, '
          f'T = {upsampler.schedule.num_timesteps}, LR consistency {upsampler.lr_consistency.downsampler}, '
          f'threads {torch.get_num_threads()}, best of {args.reps}')
    print(f'torch        {torch_ms:9.1f} ms/image')
    print(f'onnxruntime  {onnx_ms:9.1f} ms/image   largest pixel difference from torch: {difference:.0f}/255')
    ratio = onnx_ms / torch_ms
    print(f'onnxruntime_over_torch: {ratio:.2f}')
    return ratio


if __name__ == '__main__':
    sys.exit(run_main(main, 'benchmark_backends.py'))
