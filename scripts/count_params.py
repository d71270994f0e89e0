"""Print the parameter counts (millions) of the SRDDGAN networks of the paper's three configurations (Table 1).

Usage: ``python scripts/count_params.py [-opt X.yml ...]`` (default: the paper's train option files in options/).
One line per configuration: ``<config> generator=<M> encoder=<M> discriminator=<M> g+e=<M>``; "generator" excludes
the LR encoder. The paper reports 39.14M parameters for the face model (generator + encoder).
"""
import argparse
import sys
from os import path as osp

import srddgan_arch  # noqa: F401  (BasicSR compatibility fixes and registration, before any basicsr import)
from srddgan_arch.cli_errors import run_main
from srddgan_arch.option_files import load_yaml, option_file_argument

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# configuration label -> its option file: the networks are built from the files' network_g and network_d
PAPER_OPTIONS = {
    'div2k_x4': 'options/train_SRDDGAN_DIV2K_x4.yml',
    'faces_x8': 'options/train_SRDDGAN_FFHQ_x8.yml',
    'cifar10_x2': 'options/train_SRDDGAN_CIFAR10_x2.yml',
}


def count(module):
    """Number of parameters of ``module`` in millions."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def network_sizes(opt_path):
    """(generator without encoder, encoder, discriminator, generator with encoder) in millions of an option file."""
    from basicsr.archs import build_network

    opt = load_yaml(opt_path)
    net_g, net_d = build_network(opt['network_g']), build_network(opt['network_d'])
    total, encoder = count(net_g), count(net_g.encoder) if net_g.encoder is not None else 0.0
    return total - encoder, encoder, count(net_d), total


def main(argv=None):
    """Print one line of sizes per option file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', nargs='+', type=option_file_argument,
                        help='Train option files. Default: the paper configurations.')
    args = parser.parse_args(argv)
    configs = {osp.splitext(osp.basename(p))[0]: p for p in args.opt} if args.opt else {
        label: osp.join(ROOT, path) for label, path in PAPER_OPTIONS.items()}
    for label, opt_path in configs.items():
        generator, encoder, discriminator, total = network_sizes(opt_path)
        print(f'{label} generator={generator:.2f} encoder={encoder:.2f} discriminator={discriminator:.2f} '
              f'g+e={total:.2f}')


if __name__ == '__main__':
    sys.exit(run_main(main, 'count_params.py'))
