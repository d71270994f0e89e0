"""Official CIFAR-10 python batches (data_batch_1..5, test_batch) -> train/test splits, HR 32 and LR 16 (x2) PNGs.

Example: python scripts/prepare_cifar10.py --input datasets/cifar-10-batches-py --output datasets/CIFAR10 --lmdb
"""
import sys

from srddgan_arch.cli_errors import run_main
from srddgan_tools.paper_datasets import prepare_cifar10
from srddgan_tools.prepare import build_parser


def main(argv=None):
    """Parse ``argv`` (default: the command line) and prepare the data set; returns the summary line."""
    parser = build_parser(__doc__)
    parser.add_argument('--scale', type=int, default=2, help='LR scale')
    args = parser.parse_args(argv)
    return prepare_cifar10(args.input, args.output, scale=args.scale, lmdb=args.lmdb, workers=args.workers)


if __name__ == '__main__':
    sys.exit(run_main(main, 'prepare_cifar10.py'))
