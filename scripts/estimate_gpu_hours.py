"""GPU-hours of a paper configuration, from the FLOPs of one measured training iteration.

Example: python scripts/estimate_gpu_hours.py -opt options/train_SRDDGAN_DIV2K_x4.yml

Builds SRDDGANModel from the option file on the CPU (random weights: FLOPs do not depend on them), counts the FLOPs
of ``optimize_parameters`` on one random training pair with ``torch.utils.flop_counter.FlopCounterMode`` (the D step
and the G step with the content/style loss), and prints

    FLOPs per training image = D step + G step,
    total = FLOPs per image x total_batch x total_iter,
    GPU-hours = total / sustained FLOP/s, for the sustained rates given with --tflops.

The lazy R1 penalty is left out (FlopCounterMode cannot follow its double backward): it adds about one D forward
and two backward passes every ``lazy_reg`` (10) iterations, a few per cent. The sustained rate is an assumption,
not a measurement: replace it by ``FLOPs per iteration x it/s`` measured on your GPU to get exact figures.
"""
import argparse
import sys
from copy import deepcopy
from os import path as osp

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import srddgan_arch  # noqa: E402,F401  (compatibility fixes and registration, before basicsr is imported)

# sustained fp32/TF32 training throughput assumed for the paper's cards and a current one (about 40 % of peak)
DEFAULT_TFLOPS = {'TITAN V (fp32)': 6.0, 'RTX 3090 (fp32)': 14.0, 'A100 (TF32)': 60.0}


def model_for_counting(opt_path):
    """SRDDGANModel of a train option file on the CPU, with an untrained VGG and no data sets."""
    from basicsr.models import build_model

    with open(opt_path) as f:
        opt = yaml.safe_load(f)
    opt = deepcopy(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0, auto_resume=False)
    opt['datasets'] = {}
    opt['val'] = None
    opt['path'] = {'pretrain_network_g': None, 'resume_state': None}
    if opt['train'].get('content_style_opt'):
        opt['train']['content_style_opt'].update(pretrained=False, pretrained_path=None)
    return build_model(opt), opt


def count_gflops(function):
    """GFLOPs of one call of ``function`` (2 FLOPs per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops() / 1e9


def main(argv=None):
    """Print FLOPs per training image, total PFLOPs and GPU-hours of the option file's run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', required=True, help='A train option file, e.g. options/train_SRDDGAN_DIV2K_x4.yml.')
    parser.add_argument('--tflops', type=float, nargs='*', help='Sustained TFLOP/s to convert with (default: the '
                        'paper\'s cards and an A100 at about 40 %% of peak).')
    args = parser.parse_args(argv)

    model, opt = model_for_counting(args.opt)
    scale, size = opt['scale'], opt['network_g']['image_size']
    model.feed_data({'gt': torch.rand(1, 3, size, size), 'lq': torch.rand(1, 3, size // scale, size // scale)})
    y0, x = model.gt * 2 - 1, model.lq * 2 - 1
    d_step = count_gflops(lambda: model._d_step(y0, x, apply_r1=False))
    g_step = count_gflops(lambda: model._g_step(y0, x))
    per_image = d_step + g_step
    train = opt['train']
    total_batch = train.get('total_batch') or opt['datasets'].get('train', {}).get('batch_size_per_gpu', 1)
    total = per_image * 1e9 * total_batch * train['total_iter']
    print(f'{osp.basename(args.opt)}: D step {d_step:.4g} + G step {g_step:.4g} = {per_image:.4g} GFLOPs per '
          f'training image; '
          f'{total_batch} x {train["total_iter"]} iterations = {total / 1e15:.0f} PFLOPs')
    rates = {f'{t:g} TFLOP/s': t for t in args.tflops} if args.tflops else DEFAULT_TFLOPS
    for name, tflops in rates.items():
        print(f'  at {name:>18} sustained ({tflops:g} TFLOP/s): {total / (tflops * 1e12) / 3600:,.0f} GPU-hours')


if __name__ == '__main__':
    main()
