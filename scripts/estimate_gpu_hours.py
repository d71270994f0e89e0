"""GPU-hours of a paper configuration, from the FLOPs of one measured training iteration.

Example: python scripts/estimate_gpu_hours.py -opt options/train_SRDDGAN_DIV2K_x4.yml

Builds SRDDGANModel from the option file on the CPU (random weights: FLOPs do not depend on them), counts the FLOPs
of one training iteration (a D step and a G step with the content/style loss, the lazy R1 penalty amortised over
``lazy_reg`` iterations: ``standalone.iteration_cost``) on one random training pair with
``torch.utils.flop_counter.FlopCounterMode``, and prints

    FLOPs per training image = those of the iteration on one pair,
    total = FLOPs per image x batch x total_iter (batch: train.total_batch, else datasets.train.batch_size_per_gpu,
            the batch of one process),
    GPU-hours = total / sustained FLOP/s, for the sustained rates given with --tflops.

The sustained rate is an assumption, not a measurement: replace it by ``FLOPs per iteration x it/s`` measured on your
GPU (``benchmark_speed.py --train --device cuda`` measures both) to get exact figures.
"""
import argparse
import sys
from os import path as osp

import torch

import srddgan_arch  # noqa: F401  (compatibility fixes and registration, before basicsr is imported)
from srddgan_arch.cli_errors import run_main
from srddgan_arch.option_files import load_yaml, option_file_argument
from srddgan_tools.standalone import build_standalone_model, iteration_cost, training_batch_size

# sustained fp32/TF32 training throughput assumed for the paper's cards and a current one (about 40 % of peak)
DEFAULT_TFLOPS = {'TITAN V (fp32)': 6.0, 'RTX 3090 (fp32)': 14.0, 'A100 (TF32)': 60.0}


def main(argv=None):
    """Print FLOPs per training image, total PFLOPs and GPU-hours of the option file's run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', required=True, type=option_file_argument,
                        help='A train option file, e.g. options/train_SRDDGAN_DIV2K_x4.yml.')
    parser.add_argument('--tflops', type=float, nargs='*', help='Sustained TFLOP/s to convert with (default: the '
                        'paper\'s cards and an A100 at about 40 %% of peak).')
    args = parser.parse_args(argv)

    opt = load_yaml(args.opt)
    per_image = gflops_per_image(opt)
    batch, total_iter = training_batch_size(opt), opt['train']['total_iter']
    total = per_image * 1e9 * batch * total_iter
    print(f'{osp.basename(args.opt)}: D step + G step + R1 / lazy_reg = {per_image:.4g} GFLOPs per training image; '
          f'{batch} x {total_iter} iterations = {total / 1e15:.0f} PFLOPs')
    rates = {f'{t:g} TFLOP/s': t for t in args.tflops} if args.tflops else DEFAULT_TFLOPS
    for name, tflops in rates.items():
        print(f'  at {name:>18} sustained ({tflops:g} TFLOP/s): {total / (tflops * 1e12) / 3600:,.0f} GPU-hours')
    # the option that changes Algorithm 1 to save work: what it would be worth
    shared = not opt['train'].get('share_g_forward', False)
    other = gflops_per_image({**opt, 'train': {**opt['train'], 'share_g_forward': shared}})
    saved = (per_image - other) * 1e9 * batch * total_iter
    print(f'  with train.share_g_forward: {str(shared).lower()}: {other:.4g} GFLOPs per training image '
          f'({other / per_image - 1:+.1%}), ' + ', '.join(f'{saved / (tflops * 1e12) / 3600:+,.0f} GPU-hours saved at '
                                                       f'{name}' for name, tflops in rates.items()))


def gflops_per_image(opt):
    """GFLOPs of one training iteration of ``opt`` on one random training pair of the network's image size."""
    model = build_standalone_model(opt)
    scale, size = opt['scale'], opt['network_g']['image_size']
    model.feed_data({'gt': torch.rand(1, 3, size, size), 'lq': torch.rand(1, 3, size // scale, size // scale)})
    return iteration_cost(model)['gflops']

if __name__ == '__main__':
    sys.exit(run_main(main, 'estimate_gpu_hours.py'))
