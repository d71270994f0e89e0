"""Content fusion (paper "Extensions"): paste a region of one HR image into another, downscale, super-resolve.

    python scripts/content_fusion.py --source face_a.png --target face_b.png --box 40,70,48,24 \
        -opt options/test_SRDDGAN_FFHQ_x8.yml --model_path SRDDGAN_faces_x8.pth --num_samples 4 -o results/fusion

Writes composite.png (the HR input), lq.png (its bicubic downscale), sample_<i>.png (SR samples, one per z) and
fused_<i>.png (the source with the region taken from each sample).
"""
import argparse
import sys
from os import path as osp

from srddgan_arch.cli_errors import run_main
from srddgan_arch.data.image_io import read_image, write_image
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.option_files import option_file_argument
from srddgan_tools.fusion import content_fusion


def parse_args(argv=None):
    """Command-line arguments of the content fusion script (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--source', required=True, help='HR image that receives the region.')
    parser.add_argument('--target', required=True, help='HR image of the same size that gives the region.')
    parser.add_argument('--box', required=True, help='Region x,y,w,h in HR pixels.')
    parser.add_argument('-opt', '--opt', required=True, type=option_file_argument,
                        help='Option file (network_g, diffusion).')
    parser.add_argument('--model_path', required=True, help='Model weights.')
    parser.add_argument('--num_samples', type=int, default=4, help='SR samples (z draws). Default: 4.')
    parser.add_argument('--seed', type=int, default=0, help='Seed of sample 0. Default: 0.')
    parser.add_argument('--device', help='cuda, mps or cpu. Default: the best available.')
    parser.add_argument('-o', '--output', default='results/content_fusion', help='Output folder.')
    parser.add_argument('--overwrite', action='store_true', help='Replace outputs that exist (else refused).')
    args = parser.parse_args(argv)
    existing = [name for name in output_names(args.num_samples) if osp.lexists(osp.join(args.output, name))]
    if existing and not args.overwrite:
        parser.error(f'{osp.join(args.output, existing[0])} exists ({len(existing)} of the outputs do): choose '
                     'another -o, or give --overwrite.')
    return args


def output_names(num_samples):
    """The files the script writes: the composite, its LR, and each sample with its fusion."""
    return ['composite.png', 'lq.png'] + [f'{kind}_{i}.png' for i in range(num_samples) for kind in ('sample', 'fused')]


def main(argv=None):
    """Run the fusion and write its images; returns the result dict of ``content_fusion``."""
    args = parse_args(argv)
    box = tuple(int(v) for v in args.box.split(','))
    if len(box) != 4:
        raise ValueError(f'--box must be x,y,w,h, got {args.box!r}.')
    upsampler = build_upsampler(args.opt, args.model_path, device=args.device)
    source, target = read_image(args.source), read_image(args.target)
    result = content_fusion(upsampler, source.img, target.img, box, args.num_samples, args.seed)
    images = [result['composite'], result['lq']]
    for sample, fused in zip(result['samples'], result['fused'], strict=True):
        images += [sample, fused]
    for name, image in zip(output_names(args.num_samples), images, strict=True):
        write_image(osp.join(args.output, name), image, overwrite=args.overwrite)
    return result


if __name__ == '__main__':
    sys.exit(run_main(main, 'content_fusion.py'))
