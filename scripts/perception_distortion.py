"""The perception-distortion trade-off at CPU scale: the demo recipe at several adversarial weights, and the sampling
knobs that move a trained model along it, scored beside the references with the same metric code.

Example: python scripts/perception_distortion.py      (about an hour on 2 idle cores; not part of the Quick start)

Steps: builds ``datasets/demo`` and ``datasets/kinds`` (kinds of photograph: foliage, grass, water, fabric, stone,
fur, portrait; ``srddgan_tools/photo_kinds.py``) unless they are there; trains the demo recipe
(``options/train_SRDDGAN_demo_x4.yml``) with ``train.gan_weight`` set to each of ``--gan_weights``, everything else
unchanged, and the same-budget RRDB (``options/train_RRDB_demo_x4.yml``); a trained model is reused unless
``--retrain``. Then scores, on the demo's validation crops with the kinds' validation crops, and on the held-out
photographs of both (none trained on), with ``benchmark_quality.py``'s code: bicubic, IBP, the RRDB and every SRDDGAN
model (its LR-consistent sampler), PSNR, SSIM, LR-PSNR, NIQE (held-out photographs: the crops are too small for it),
the realism measure SWD (``calculate_swd``), sharpness, pixel std across samples, LPIPS where its AlexNet weights are
present. The perceptual model is chosen on the validation crops alone: the lowest SWD among the models at least 0.2 dB
above bicubic (``--perceptual`` names it instead); the table then gives, for each kind of held-out photograph, PSNR /
NIQE / SWD of every method and whether the chosen model meets its targets there (PSNR at least 0.2 dB above bicubic,
NIQE at least 1.0 under IBP's). Two knobs then move the distortion recipe (``--distortion``) and the perceptual model
without retraining: the mean of K samples (``--reduce mean``) and the interpolation of their weights
(``--interpolate``, ``--alpha``). Writes ``results/perception_distortion/``: ``table.md`` (with the per-kind table),
``perception_distortion.png`` (held-out PSNR against SWD, one point per model, references marked, the knobs as
curves) and ``samples.png`` (the demo's validation crops: references, two samples of each recipe, HR).
"""
import argparse
import os
import sys
from os import path as osp

import benchmark_quality  # a script of this folder (Python puts a script's folder on sys.path)
import cv2
import numpy as np
import run_demo

from srddgan_arch.cli_errors import run_main
from srddgan_arch.data.image_io import write_image
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.option_files import load_yaml
from srddgan_arch.options.signatures import NIQE_MIN_SIDE
from srddgan_arch.utils.training_state import atomic_write
from srddgan_tools.demo import build_demo_dataset
from srddgan_tools.evaluation_pairs import load_pairs
from srddgan_tools.kind_scores import MIN_GAIN_OVER_BICUBIC, choose_by_rule, combine, group_by_kind, kind_table
from srddgan_tools.photo_kinds import build_kinds_dataset
from srddgan_tools.quality import MetricSet, evaluate, integers, markdown_table, model_method, numbers, reference_method

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # where data, experiments and results go
OPTIONS = osp.join(ROOT, 'options')

OUTPUT = 'results/perception_distortion'
SPLITS = {'validation crops': ('datasets/demo/val', 'datasets/kinds/val'),
          'held-out photographs': ('datasets/demo/heldout', 'datasets/kinds/heldout')}
DEMO_OPT, RRDB_OPT = 'train_SRDDGAN_demo_x4.yml', 'train_RRDB_demo_x4.yml'


def model_name(gan_weight):
    """The row name of the demo recipe trained at ``gan_weight``."""
    return f'SRDDGAN gan_weight {gan_weight:g}'


def variant_options(gan_weight, total_iter=None):
    """The demo option dict with ``train.gan_weight`` (and ``total_iter``) changed, under its own name."""
    opt = load_yaml(osp.join(OPTIONS, DEMO_OPT))
    opt['name'] = f'perception_distortion_gan{gan_weight:g}'
    opt['train']['gan_weight'] = gan_weight
    if total_iter is not None:
        opt['train']['total_iter'] = total_iter
    return opt


def rrdb_options(total_iter=None):
    """The same-budget RRDB's option dict; a shortened SRDDGAN schedule shortens it in proportion."""
    opt = load_yaml(osp.join(OPTIONS, RRDB_OPT))
    if total_iter is not None:
        srddgan_iters = load_yaml(osp.join(OPTIONS, DEMO_OPT))['train']['total_iter']
        opt['name'] = f'perception_distortion_rrdb_{total_iter}'
        opt['train']['total_iter'] = max(1, round(opt['train']['total_iter'] * total_iter / srddgan_iters))
    return opt


def split_args(split_dirs, num_samples, max_images=None):
    """``benchmark_quality``'s arguments for one split (NIQE left out below its size) and its image pairs: the first
    ``max_images`` of each of its folders (``split_dirs``: one folder or several)."""
    split_dirs = [split_dirs] if isinstance(split_dirs, str) else list(split_dirs)
    folders = [(osp.join(d, 'HR'), osp.join(d, 'LR_bicubic_X4')) for d in split_dirs]
    argv = ['--gt', folders[0][0], '--lq', folders[0][1], '--num_samples', str(num_samples), '--device', 'cpu']
    pairs = [pair for gt_dir, lq_dir in folders for pair in load_pairs(gt_dir, lq_dir, 4, max_images=max_images)]
    if min(min(gt.shape[:2]) for _, gt, _ in pairs) < 2 * NIQE_MIN_SIDE:
        argv.append('--no_niqe')  # BasicSR's NIQE needs two 96-px blocks
    return benchmark_quality.parse_args(argv), pairs


def score(methods, split_dirs, num_samples, max_images=None):
    """method -> mean metrics on one split, the notes (metrics n/a and why), kind -> method -> mean metrics, and
    kind -> number of images."""
    args, pairs = split_args(split_dirs, num_samples, max_images)
    metrics, groups = MetricSet(args), group_by_kind(pairs)
    counts = {kind: len(group) for kind, group in groups.items()}
    results, per_kind = {}, {kind: {} for kind in groups}
    for method, run in methods.items():
        for kind, group in groups.items():
            per_kind[kind][method] = evaluate(method, run, group, metrics, args)
        results[method] = combine({kind: per_kind[kind][method] for kind in groups}, counts)
        print(f'{", ".join(split_dirs)} {method}: ' + ', '.join(f'{k} {v:.4g}' for k, v in results[method].items()),
              flush=True)
    return results, metrics.notes, per_kind, counts


def choose_perceptual(results, weights):
    """The gan_weight whose model has the lowest SWD among those at least MIN_GAIN_OVER_BICUBIC above bicubic."""
    names = {model_name(w): w for w in weights}
    return names[choose_by_rule(results, list(names))]


def knob_methods(models, paths, distortion, perceptual, mean_counts, alphas):
    """The sampling knobs: the mean of K samples of both recipes (``models``: gan_weight -> upsampler), and their
    weights interpolated (``paths``: gan_weight -> (option file, checkpoint))."""
    methods = {}
    for weight in dict.fromkeys((distortion, perceptual)):
        upsampler = models[weight]
        for count in mean_counts:
            methods[f'{model_name(weight)} mean of {count}'] = model_method(upsampler, count)
    opt_path, first = paths[distortion]
    second = paths[perceptual][1]
    for alpha in alphas:
        upsampler = build_upsampler(opt_path, first, device='cpu', interpolate=second, alpha=alpha)
        methods[f'interpolation alpha {alpha:g}'] = model_method(upsampler)
    return methods


def plot(results, path, distortion, perceptual, mean_counts, alphas):
    """PSNR against SWD on one split: a point per model, the references marked, the knobs as curves."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=100)
    for method, marker in (('bicubic', 's'), ('ibp', 'D'), ('rrdb', '^')):
        ax.scatter(results[method]['psnr'], results[method]['swd'], marker=marker, color='0.45', zorder=3)
        ax.annotate(method if method != 'rrdb' else 'RRDB (same budget)', (results[method]['psnr'],
                    results[method]['swd']), textcoords='offset points', xytext=(5, 4), fontsize=8, color='0.3')
    models = [m for m in results if m.startswith('SRDDGAN') and ' mean of ' not in m]
    ax.plot([results[m]['psnr'] for m in models], [results[m]['swd'] for m in models], 'o-', color='C0',
            label='SRDDGAN demo recipe, gan_weight', zorder=3)
    for method in models:
        ax.annotate(method.rsplit(' ', 1)[1], (results[method]['psnr'], results[method]['swd']),
                    textcoords='offset points', xytext=(5, -10), fontsize=8, color='C0')
    for weight, color in dict.fromkeys(((distortion, 'C1'), (perceptual, 'C2'))):
        curve = [model_name(weight)] + [f'{model_name(weight)} mean of {k}' for k in mean_counts]
        ax.plot([results[m]['psnr'] for m in curve], [results[m]['swd'] for m in curve], '.--', color=color,
                label=f'mean of K = 1, {", ".join(map(str, mean_counts))} samples (gan_weight {weight:g})')
    curve = [model_name(distortion)] + [f'interpolation alpha {a:g}' for a in alphas] + [model_name(perceptual)]
    ax.plot([results[m]['psnr'] for m in curve], [results[m]['swd'] for m in curve], 'x:', color='C3',
            label=f'weights interpolated, alpha {", ".join(f"{a:g}" for a in alphas)}')
    ax.set(xlabel='PSNR (dB, RGB) ↑  distortion', ylabel='SWD ↓  realism (Laplacian-pyramid patches)',
           title='Perception-distortion: demo models on the held-out photographs')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower left')
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format='png'))
    plt.close(fig)


def samples_figure(methods, split_dir, path, num_shown=2, max_images=None):
    """Validation crops, one row each: LR (nearest), bicubic, IBP, ``num_shown`` samples of each given model, HR."""
    _, pairs = split_args(split_dir, 1, max_images)
    rows = []
    for _, gt, lq in pairs:
        tiles = [('LR (nearest)', cv2.resize(lq, gt.shape[1::-1], interpolation=cv2.INTER_NEAREST))]
        tiles += [(name, methods[name](lq, 0)) for name in ('bicubic', 'ibp')]
        tiles += [(f'{label} {k + 1}', run(lq, k)) for label, run in methods.items() if label not in ('bicubic', 'ibp')
                  for k in range(num_shown)]
        rows.append(np.concatenate([run_demo._labelled(img, label) for label, img in tiles + [('HR', gt)]], axis=1))
    write_image(path, np.concatenate(rows, axis=0).astype(np.float32) / 255)


def _gan_weights(text):
    """'0,0.05,1' -> [0.0, 0.05, 1.0] (a weight may exceed 1)."""
    return [float(value) for value in text.split(',')]


def build_parser():
    """The study's command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gan_weights', type=_gan_weights, default=[0, 0.05, 0.2, 0.5, 1],
                        help='train.gan_weight of each model. Default: 0,0.05,0.2,0.5,1.')
    parser.add_argument('--distortion', type=float, default=0.05, help="The distortion recipe's gan_weight (the "
                        "demo's). Default: 0.05.")
    parser.add_argument('--perceptual', type=float, help='The perceptual model. Default: chosen on the validation '
                        f'crops (the lowest SWD at least {MIN_GAIN_OVER_BICUBIC} dB above bicubic).')
    parser.add_argument('--mean_of', type=integers, default=(2, 4, 8),
                        help='K of the mean of K samples. Default: 2,4,8.')
    parser.add_argument('--alphas', type=numbers, default=(0.25, 0.5, 0.75),
                        help='Interpolation weights of the perceptual model. Default: 0.25,0.5,0.75.')
    parser.add_argument('--num_samples', type=int, default=2, help='Samples for the pixel std. Default: 2.')
    parser.add_argument('--total_iter', type=int, help="Training iterations. Default: the demo's.")
    parser.add_argument('--max_images', type=int, help='Score only the first N images of each folder of a split.')
    parser.add_argument('--retrain', action='store_true', help='Train again even when a model is there.')
    parser.add_argument('--overwrite', action='store_true', help='Replace the table and figures of an earlier run.')
    return parser


def score_study(methods, models, paths, args):
    """Score the methods on both splits, choose the perceptual model on the validation split alone (unless given),
    then score the knobs; returns split -> results, the notes, the held-out kinds' results and the perceptual
    gan_weight (``kinds``: the held-out split's results by kind and their numbers of images, as ``score``)."""
    results, notes, kinds = {}, {}, {}
    for split, split_dirs in SPLITS.items():
        results[split], split_notes, *kinds[split] = score(methods, split_dirs, args.num_samples, args.max_images)
        notes.update(split_notes)
    validation, heldout = SPLITS
    perceptual = args.perceptual if args.perceptual is not None else choose_perceptual(results[validation],
                                                                                        args.gan_weights)
    knobs = knob_methods(models, paths, args.distortion, perceptual, args.mean_of, args.alphas)
    for split, split_dirs in SPLITS.items():
        knob_results, split_notes, *_ = score(knobs, split_dirs, args.num_samples, args.max_images)
        results[split].update(knob_results)
        notes.update(split_notes)
    return results, notes, kinds[heldout], perceptual


def study_text(results, notes, kinds, perceptual, args):
    """The table file: the choice, a table per split, the held-out photographs by kind."""
    validation, heldout = SPLITS
    choice = (f'Perceptual model: gan_weight {perceptual:g} ({"given" if args.perceptual is not None else "chosen"}'
              f' on the {validation}); distortion recipe: gan_weight {args.distortion:g}.')
    text = choice + '\n' + ''.join(f'\n{split} ({", ".join(SPLITS[split])}):\n\n' + markdown_table(
        rows, notes if split == heldout else {}) for split, rows in results.items())
    methods = ['bicubic', 'ibp'] + [model_name(w) for w in args.gan_weights]
    return text + f'\n{heldout} by kind:\n\n' + kind_table(*kinds, methods, model_name(perceptual))


def main(argv=None):
    """Parse ``argv``, train, score, write the table and figures; returns the table."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.distortion not in args.gan_weights or args.perceptual not in (None, *args.gan_weights):
        parser.error('--distortion and --perceptual must be among --gan_weights.')
    os.chdir(ROOT)
    outputs = [osp.join(OUTPUT, name) for name in ('table.md', 'perception_distortion.png', 'samples.png')]
    if (written := [p for p in outputs if osp.lexists(p)]) and not args.overwrite:
        parser.error(f'{osp.abspath(written[0])} exists: give --overwrite to replace the table and figures.')
    build_demo_dataset('datasets/demo', scale=4)
    build_kinds_dataset('datasets/kinds', scale=4)
    paths = {w: run_demo.train_variant(variant_options(w, args.total_iter), OUTPUT, args.retrain)
             for w in args.gan_weights}
    rrdb = run_demo.train_variant(rrdb_options(args.total_iter), OUTPUT, args.retrain)
    iterations = load_yaml(paths[args.distortion][0])['lr_consistency']['iterations']
    methods = {name: reference_method(name, 4, iterations) for name in ('bicubic', 'ibp')}
    methods['rrdb'] = model_method(build_upsampler(rrdb[0], rrdb[1], device='cpu'))
    models = {w: build_upsampler(*paths[w], device='cpu') for w in args.gan_weights}
    methods.update({model_name(w): model_method(models[w]) for w in args.gan_weights})
    results, notes, kinds, perceptual = score_study(methods, models, paths, args)
    text = study_text(results, notes, kinds, perceptual, args)
    atomic_write(outputs[0], lambda f: f.write(text.encode()), overwrite=True)
    validation, heldout = SPLITS
    plot(results[heldout], outputs[1], args.distortion, perceptual, args.mean_of, args.alphas)
    shown = {name: methods[name] for name in ('bicubic', 'ibp')}
    shown.update({f'{label} {w:g}': methods[model_name(w)] for label, w in (('distortion', args.distortion),
                                                                           ('perceptual', perceptual))})
    samples_figure(shown, SPLITS[validation][0], outputs[2], max_images=args.max_images)
    print(f'\n{text}\nTable and figures in {OUTPUT}.')
    return text


if __name__ == '__main__':
    sys.exit(run_main(main, 'perception_distortion.py'))
