"""Quality table (paper Table 3): every method on the same images through the same metrics, as markdown.

    python scripts/benchmark_quality.py --gt datasets/DF2K/val/HR --lq datasets/DF2K/val/LR_bicubic_X4 \
        --methods srddgan,srddgan_lrc,bicubic,ibp,rrdb,esrgan --srddgan_opt options/test_SRDDGAN_DIV2K_x4.yml \
        --srddgan_model experiments/pretrained_models/SRDDGAN_x4.pth \
        --rrdb_model experiments/pretrained_models/RRDB_PSNR_x4.pth \
        --esrgan_model experiments/pretrained_models/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth --output table.md

Methods: ``srddgan`` (the sampler as the option file sets it), ``srddgan_lrc`` / ``srddgan_plain`` (the LR-consistent
sampler forced on / off), the references ``bicubic`` (BasicSR's MATLAB imresize) and ``ibp`` (bicubic + the same
LR-consistency projection), and BasicSR RRDBNets ``rrdb`` / ``esrgan``.

Sampling knobs: ``--reduce mean`` adds rows of the mean of K SRDDGAN samples (``--reduce_samples``), ``--interpolate
G2 --alphas a,b`` rows of the generator interpolated with G2's weights.

Metrics: the benchmark convention of srddgan-test's option files (``srddgan_arch/metrics/benchmark.py``, computed as
srddgan-test computes them: a stochastic method's per-image metrics are the mean over its ``--num_samples`` samples,
sample k drawn with seed ``--seed`` + k, as srddgan-test draws sample k with ``val.seed``): PSNR and SSIM in the
paper's convention (RGB, no border crop) and BasicSR's (PSNR-Y, SSIM-Y: Y channel, ``scale`` pixels cropped), LPIPS
(alex), LR-PSNR, NIQE (BasicSR), diversity; and SWD (realism: sliced Wasserstein distance of the Laplacian-pyramid
patches against the HR's, ``calculate_swd``), pixel std across the samples (``calculate_sample_std``), sharpness
(Laplacian variance over the HR's, ``calculate_sharpness``: 1 = as much fine detail as the HR), seconds per image;
optionally FID and IS (``--fid_reference``, CIFAR-10 Table 4) on ``--fid_samples`` SR images (default 50k, the
paper's FID@50k: 5 samples of each of the 10k CIFAR-10 test images). A metric whose weights are missing
(LPIPS/diversity backbone, Inception) is shown as n/a with the reason below the table.

Without ground truth (real photographs): ``--lq DIR`` alone scores every LR image of DIR with the metrics that need
no HR: NIQE (BasicSR's; its parameters ship with BasicSR), LR-PSNR (the SR image's downscale against the LR input),
pixel std across samples and seconds per image; the columns that need the HR are left out of the table:

    python scripts/benchmark_quality.py --lq photos/ --methods srddgan,bicubic --srddgan_opt X.yml --srddgan_model Y
"""
import argparse
import os
import sys
import tempfile
from functools import partial
from os import path as osp

import cv2

import srddgan_arch  # noqa: F401  (compatibility fixes and metric registration)
from srddgan_arch.cli_errors import run_main
from srddgan_arch.color_fix import COLOR_FIXES
from srddgan_arch.device import default_device
from srddgan_arch.inference.loading import load_option_file
from srddgan_arch.inference.settings import PRECISIONS, ModelChoice, RunSettings
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.lr_consistency import REFERENCES, LRConsistencyOptions
from srddgan_arch.option_files import option_file_argument
from srddgan_arch.utils.training_state import atomic_write
from srddgan_tools.evaluation_pairs import load_lr_images, load_pairs
from srddgan_tools.quality import MetricSet, evaluate, integers, markdown_table, model_method, numbers, reference_method

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# the RRDBNet of the rrdb and esrgan methods (ESRGAN's generator, as the baseline option files define it)
RRDB_OPT = osp.join(ROOT, 'options', 'test_RRDB_baseline_x4.yml')
# SRDDGAN's sampler: as the option file sets it, LR-consistent, plain
SRDDGAN_METHODS = {'srddgan': None, 'srddgan_lrc': 'bicubic', 'srddgan_plain': 'none'}


def build_methods(args):
    """name -> function(lq uint8 BGR, seed) -> SR uint8 BGR, for the requested methods."""
    consistency = load_option_file(args.srddgan_opt).lr_consistency if args.srddgan_opt else LRConsistencyOptions()
    methods = {}
    for name in args.methods.split(','):
        if name in REFERENCES:
            methods[name] = reference_method(name, args.scale, consistency.iterations)
            continue
        lr_consistency = None
        if name in SRDDGAN_METHODS:
            if not args.srddgan_opt:
                raise ValueError(f'method {name} needs --srddgan_opt (and --srddgan_model).')
            opt, model_path, lr_consistency = args.srddgan_opt, args.srddgan_model, SRDDGAN_METHODS[name]
        elif name in ('rrdb', 'esrgan'):
            model_path = getattr(args, f'{name}_model')
            if not model_path:
                raise ValueError(f'method {name} needs --{name}_model (BasicSR RRDBNet weights, see --rrdb_opt).')
            opt = dict(load_option_file(args.rrdb_opt or RRDB_OPT)[0], scale=args.scale)
        else:
            raise ValueError(f'--methods: unknown method {name!r}; expected one of {", ".join(SRDDGAN_METHODS)}, '
                             'bicubic, ibp, rrdb or esrgan.')
        settings = dict(tile=args.tile, tile_pad=args.tile_pad, precision=args.precision, device=args.device,
                        color_fix=args.color_fix)
        if name not in SRDDGAN_METHODS:
            methods[name] = model_method(build_upsampler(opt, model_path, **settings))
            continue
        settings.update(steps=args.steps, force_steps=args.force_steps, lr_consistency=lr_consistency)
        methods[name] = model_method(build_upsampler(opt, model_path, **settings))
        if args.reduce == 'mean':
            for count in args.reduce_samples:
                methods[f'{name} mean of {count}'] = model_method(methods[name].upsampler, count)
        for alpha in args.alphas or ():
            upsampler = build_upsampler(opt, model_path, interpolate=args.interpolate, alpha=alpha, **settings)
            methods[f'{name} alpha {alpha:g}'] = model_method(upsampler)
    return methods


def save_fid_samples(method, run, pairs, save_dir, num_samples, seed):
    """Write the SR images FID and IS are computed on: ``num_samples`` of them, going through the LR images with
    seeds seed, seed + 1, ... (the paper's 50k on CIFAR-10's 10k test images: 5 samples each). A deterministic method
    gives one image per LR image, whatever ``num_samples``.

    Returns:
        int: The number of images written.
    """
    count = num_samples if method in SRDDGAN_METHODS else min(num_samples, len(pairs))
    for index in range(count):
        name, _, lq = pairs[index % len(pairs)]
        round_ = index // len(pairs)
        cv2.imwrite(osp.join(save_dir, f'{osp.splitext(name)[0]}_s{round_}.png'), run(lq, seed + round_))
    return count


def fid_is_scores(method, run, pairs, fid_dir, args):
    """FID against ``--fid_reference`` and IS of ``--fid_samples`` SR images, or None (the reason in the notes)."""
    from srddgan_arch.metrics.fid_is import calculate_fid_is
    os.makedirs(fid_dir, exist_ok=True)
    count = save_fid_samples(method, run, pairs, fid_dir, args.fid_samples, args.seed)
    scores = calculate_fid_is(fid_dir, args.fid_reference, inception_path=args.inception_path, device=args.device)
    return dict(fid=scores['fid'], is_mean=scores['is_mean'], fid_samples=count)


def parse_args(argv=None):
    """Command-line arguments of the quality benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt', help='Folder of GT (HR) images; without it --lq is scored with no-reference metrics.')
    parser.add_argument('--lq', help='Folder of LR images; default: MATLAB bicubic of the GT.')
    parser.add_argument('--degraded_lq', action='store_true', help='The --lq images were made by another '
                        'degradation than bicubic (real-world evaluation): do not check them against the GT.')
    parser.add_argument('--filename_tmpl', default='{}', help="LR name from the GT stem, e.g. '{}x4'. Default: {}.")
    parser.add_argument('-s', '--scale', type=int, default=4, help='Scale. Default: 4.')
    parser.add_argument('--methods', default='srddgan,bicubic,ibp,rrdb,esrgan',
                        help=f'Comma-separated methods: {", ".join(SRDDGAN_METHODS)}, bicubic, ibp, rrdb, esrgan.')
    parser.add_argument('--srddgan_opt', type=option_file_argument,
                        help='SRDDGAN option file (network_g, diffusion, lr_consistency: also the '
                        'projection iterations of ibp).')
    parser.add_argument('--srddgan_model', help='SRDDGAN weights.')
    parser.add_argument('--rrdb_model', help='RRDB (PSNR-oriented RRDBNet) weights.')
    parser.add_argument('--esrgan_model', help='ESRGAN (RRDBNet) weights.')
    parser.add_argument('--rrdb_opt', type=option_file_argument,
                        help='Option file with the RRDBNet of rrdb/esrgan (network_g). Default: '
                        'options/test_RRDB_baseline_x4.yml.')
    parser.add_argument('--steps', type=int, help='SRDDGAN sampling steps T. Default: the trained T.')
    parser.add_argument('--force_steps', action='store_true', help='Allow a --steps other than the trained T (the '
                        'generator never saw its noise levels: for measuring what that does).')
    parser.add_argument('--color_fix', choices=COLOR_FIXES, help="The model methods' colours from the upsampled LR "
                        "(srddgan-infer's --color_fix), for samplers without the LR projection (not srddgan_lrc). "
                        f'Default: {ModelChoice.color_fix}.')
    parser.add_argument('--num_samples', type=int, default=10, help='Samples for diversity. Default: 10.')
    parser.add_argument('--reduce', choices=('none', 'mean'), default='none', help="'mean': add a row per "
                        '--reduce_samples K for every SRDDGAN method: one image per LR image, the mean of K samples '
                        '(as srddgan-infer --reduce mean). Default: none.')
    parser.add_argument('--reduce_samples', type=integers, default=(2, 4, 8), help='The K of --reduce mean, '
                        'comma-separated. Default: 2,4,8.')
    parser.add_argument('--interpolate', help='Second SRDDGAN weights (same network): add a row per --alphas value '
                        'for every SRDDGAN method, sampled with (1 - alpha) * --srddgan_model + alpha * these.')
    parser.add_argument('--alphas', type=numbers, help='The alphas of --interpolate, comma-separated.')
    parser.add_argument('--seed', type=int, default=0, help='Seed of the first sample. Default: 0.')
    parser.add_argument('--no_niqe', action='store_true', help='Skip NIQE (slow on large images).')
    parser.add_argument('--lpips_backbone', help="LPIPS AlexNet backbone file. Default: torchvision's cache.")
    parser.add_argument('--fid_reference', help='Reference folder: adds FID and IS of the SR images (Table 4).')
    parser.add_argument('--fid_samples', type=int, default=50000, help='SR images FID and IS are computed on, '
                        'cycling over the LR images with new seeds (deterministic methods: one per image). Default: '
                        '50000 (paper Table 4, FID@50k).')
    parser.add_argument('--inception_path', help="InceptionV3 weights for FID/IS. Default: torch-fidelity's cache.")
    parser.add_argument('--max_images', type=int, help='Evaluate only the first N images.')
    parser.add_argument('--tile', type=int, help=f'Tile size in LR pixels, 0: none. Default: {RunSettings.tile}.')
    parser.add_argument('--tile_pad', type=int, help=f'Tile overlap context. Default: {RunSettings.tile_pad}.')
    parser.add_argument('--precision', choices=PRECISIONS, help=f'Default: {RunSettings.precision}.')
    parser.add_argument('--device', help='cuda, mps or cpu. Default: the best available.')
    parser.add_argument('--save_dir', help='Save each method\'s SR images under SAVE_DIR/<method>.')
    parser.add_argument('--output', help='Write the markdown table to this file.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an --output or --save_dir images that exist.')
    args = parser.parse_args(argv)
    if bool(args.interpolate) != bool(args.alphas):
        parser.error('--interpolate and --alphas go together.')
    if not args.gt and not args.lq:
        parser.error('give --gt (with or without --lq), or --lq alone to score LR images without ground truth.')
    return args


def main(argv=None):
    """Evaluate the methods, print the markdown table and return it."""
    args = parse_args(argv)
    args.device = args.device or default_device()
    if args.gt:
        pairs = load_pairs(args.gt, args.lq, args.scale, args.filename_tmpl, args.max_images, args.degraded_lq)
    else:
        pairs = load_lr_images(args.lq, args.max_images)
    methods = build_methods(args)
    existing = [args.output] if args.output and osp.lexists(args.output) else []
    if args.save_dir:
        existing += [path for method in methods for name, _, _ in pairs
                     if osp.lexists(path := osp.join(args.save_dir, method, osp.splitext(name)[0] + '.png'))]
    if existing and not args.overwrite:
        raise FileExistsError(f'{existing[0]} exists ({len(existing)} of the outputs do): choose another --output or '
                              '--save_dir, or give --overwrite.')
    metrics = MetricSet(args)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method, run in methods.items():
            save_dir = osp.join(args.save_dir, method) if args.save_dir else None
            if save_dir:
                os.makedirs(save_dir, exist_ok=True)
            results[method] = evaluate(method, run, pairs, metrics, args, save_dir)
            if args.fid_reference:
                fid_dir = osp.join(tmp, 'fid', method)
                scores = metrics.guarded('fid', partial(fid_is_scores, method, run, pairs, fid_dir, args))
                results[method].update(scores or {})
            print(f'{method}: ' + ', '.join(f'{k} {v:.4g}' for k, v in results[method].items()), flush=True)
    table = markdown_table(results, metrics.notes, with_fid=bool(args.fid_reference), with_hr=bool(args.gt))
    reference = ('PSNR/SSIM: RGB, no crop; PSNR-Y/SSIM-Y: Y, crop scale' if args.gt else
                 'no ground truth: no-reference metrics only')
    print(f'\n{len(pairs)} images, x{args.scale}, {reference}\n\n{table}')
    if args.output:
        atomic_write(args.output, lambda f: f.write(table.encode()))
    return table


if __name__ == '__main__':
    sys.exit(run_main(main, 'benchmark_quality.py'))
