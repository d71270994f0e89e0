"""FFHQ / CelebA-HQ image folders -> HR 128 (centre square, bicubic) and LR 16 (x8), BasicSR layout, optional LMDB.

Example: python scripts/prepare_faces.py --input datasets/FFHQ/images1024x1024 datasets/CelebA-HQ/train
         --output datasets/faces/train --lmdb --workers 8
"""
import sys

from srddgan_arch.cli_errors import run_main
from srddgan_tools.paper_datasets import prepare_faces
from srddgan_tools.prepare import build_parser


def main(argv=None):
    """Parse ``argv`` (default: the command line) and prepare the data set; returns the summary line."""
    parser = build_parser(__doc__)
    parser.add_argument('--hr-size', type=int, default=128, help='HR side')
    parser.add_argument('--scale', type=int, default=8, help='LR scale')
    args = parser.parse_args(argv)
    return prepare_faces(args.input, args.output, hr_size=args.hr_size, scale=args.scale, lmdb=args.lmdb,
                         workers=args.workers)


if __name__ == '__main__':
    sys.exit(run_main(main, 'prepare_faces.py'))
