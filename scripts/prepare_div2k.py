"""DIV2K / Flickr2K HR folders -> 128-px HR sub-images and bicubic x2/x4 LR (BasicSR layout, optional LMDB).

Example: python scripts/prepare_div2k.py --input datasets/DIV2K/DIV2K_train_HR datasets/Flickr2K/Flickr2K_HR
         --output datasets/DF2K/train --lmdb --workers 8
"""
import sys

from srddgan_arch.cli_errors import run_main
from srddgan_tools.paper_datasets import prepare_div2k
from srddgan_tools.prepare import build_parser


def main(argv=None):
    """Parse ``argv`` (default: the command line) and prepare the data set; returns the summary line."""
    parser = build_parser(__doc__)
    parser.add_argument('--scales', type=int, nargs='+', default=[2, 4], help='LR scales')
    parser.add_argument('--crop-size', type=int, default=128, help='HR sub-image side; 0 keeps whole images')
    parser.add_argument('--step', type=int, default=64, help='sub-image grid step')
    parser.add_argument('--thresh-size', type=int, default=0, help='border leftover below which no crop is added')
    args = parser.parse_args(argv)
    return prepare_div2k(args.input, args.output, scales=tuple(args.scales), crop_size=args.crop_size, step=args.step,
                         thresh_size=args.thresh_size, lmdb=args.lmdb, workers=args.workers)


if __name__ == '__main__':
    sys.exit(run_main(main, 'prepare_div2k.py'))
