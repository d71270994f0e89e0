"""``srddgan-export``: a trained generator for deployment. ``--onnx`` writes its LR encoder and one generator step as
ONNX graphs for ONNX Runtime (``srddgan_arch.inference.onnx_export``; run them with ``srddgan-infer --backend
onnxruntime --onnx_dir DIR`` or ``srddgan_runtime.OnnxUpsampler(DIR)``)."""
import sys

from srddgan_arch.inference.cli import OneLineParser, _one_line

PROG = 'srddgan-export'


def parse_args(argv=None):
    """Command-line arguments of ``srddgan-export``."""
    parser = OneLineParser(prog=PROG, description='Export a trained SRDDGAN generator for deployment.')
    parser.add_argument('--onnx', action='store_true', required=True,
                        help='ONNX graphs (encoder.onnx, step.onnx, srddgan_onnx.json) for ONNX Runtime.')
    parser.add_argument('-opt', '--opt', required=True, help='Option file (YAML) with a network_g section.')
    parser.add_argument('--model_path', required=True, help='Model weights (BasicSR checkpoint).')
    parser.add_argument('--param_key', default='params_ema', help='Checkpoint key. Default: params_ema.')
    parser.add_argument('-o', '--output', required=True, help='Folder to write (new or empty).')
    parser.add_argument('--debug', action='store_true', help='Stop with the traceback on an error.')
    return parser.parse_args(argv)


def main(argv=None):
    """``srddgan-export``; returns the exit code: 0, 1 on an error (one line on stderr), 2 for a usage error."""
    args = parse_args(argv)
    try:
        from srddgan_arch.inference.onnx_export import export_onnx

        print(f'{PROG}: wrote {export_onnx(args.opt, args.model_path, args.output, args.param_key)}')
        return 0
    except Exception as error:
        if args.debug:
            raise
        print(f'{PROG}: error: {_one_line(error)}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
