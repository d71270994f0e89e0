"""Build the embedded demo set (photographs shipped with scikit-image and matplotlib, x4) at datasets/demo; no input.

Example: python scripts/prepare_demo_data.py --output datasets/demo --lmdb
"""
import sys

from srddgan_arch.cli_errors import run_main
from srddgan_tools.demo import build_demo_dataset
from srddgan_tools.prepare import build_parser


def main(argv=None):
    """Parse ``argv`` (default: the command line) and build the demo set; returns ``build_demo_dataset``'s dict."""
    parser = build_parser(__doc__, needs_input=False, default_output='datasets/demo')
    parser.add_argument('--scale', type=int, default=4, help='LR scale')
    args = parser.parse_args(argv)
    if args.input:
        parser.error('--input is not used: the demo photographs ship with scikit-image and matplotlib.')
    result = build_demo_dataset(args.output, scale=args.scale, lmdb=args.lmdb)
    if result['skipped']:
        print(f'prepare_demo_data: {args.output} is already there; nothing to do.')
    return result


if __name__ == '__main__':
    sys.exit(run_main(main, 'prepare_demo_data.py'))
