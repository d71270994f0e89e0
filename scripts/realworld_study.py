"""Real-world training at CPU scale: which training pipeline, start, loss and budget make a model that beats bicubic
on degraded photographs nobody here trained on.

Example: python scripts/realworld_study.py --variants demo,realworld,rrdb_realworld --budgets 10,30
         python scripts/realworld_study.py --variants demo@10,realworld_finetune@20,realworld_finetune@30

Steps: builds ``datasets/demo`` unless it is there; trains each variant of ``--variants``
(``srddgan_tools/realworld.py`` ``VARIANTS``: SRDDGAN or the same-budget RRDB control; bicubic LR, the paper's
pipeline, the real-world recipe's milder family of photo degradations; from scratch or fine-tuned from the
bicubic-trained demo model; with or without the adversarial term) at each budget of ``--budgets`` (minutes of the
demo's 2 idle cores, as iterations; ``variant@minutes`` gives one its own budget; a fine-tuned variant needs more than
the demo's 10 minutes), one training after the other; a trained model is reused unless ``--retrain``.
Then degrades the held-out photographs with each fixed test degradation (``TEST_DEGRADATIONS``: none of them a draw
the pipelines make exactly) and scores every model, bicubic and IBP on them and on the clean bicubic LR with
``benchmark_quality.py``'s code: PSNR / SSIM against the clean HR, NIQE, SWD; the models without the LR projection
also with each ``--color_fix``. Writes ``results/realworld_study/``: ``table.md`` (one table per test input) and
``budget.png`` (mean PSNR gain over bicubic on the degraded inputs against the budget, one line per variant).
"""
import argparse
import os
import sys
from os import path as osp

import benchmark_quality  # a script of this folder (Python puts a script's folder on sys.path)
import generate_meta_info
import numpy as np
import run_demo

from srddgan_arch.cli_errors import run_main
from srddgan_arch.color_fix import COLOR_FIXES
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.utils.training_state import atomic_write
from srddgan_tools.demo import build_demo_dataset
from srddgan_tools.evaluation_pairs import load_pairs
from srddgan_tools.quality import MetricSet, evaluate, integers, model_method, reference_method
from srddgan_tools.realworld import (
    DEMO_MINUTES,
    TEST_DEGRADATIONS,
    VARIANTS,
    iterations,
    variant_options,
    write_degraded_lr,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # where data, experiments and results go
OUTPUT = 'results/realworld_study'
HELDOUT = 'datasets/demo/heldout'
COLUMNS = (('psnr', 'PSNR ↑', 2), ('ssim', 'SSIM ↑', 4), ('niqe', 'NIQE ↓', 2), ('swd', 'SWD ↓', 3))


def runs_of(variants, budgets):
    """(variant, minutes) pairs of ``--variants`` and ``--budgets``: ``name@minutes`` at its own budget, a bare name at
    each budget (a fine-tuned one only above the demo's minutes); raises ValueError naming an unknown variant."""
    runs = []
    for item in variants.split(','):
        name, _, minutes = item.partition('@')
        if name not in VARIANTS:
            raise ValueError(f'--variants: unknown {name!r}; expected among {", ".join(VARIANTS)}.')
        if minutes:
            runs.append((name, int(minutes)))
            continue
        runs += [(name, budget) for budget in budgets if VARIANTS[name][2] == 'scratch' or budget > DEMO_MINUTES]
    return list(dict.fromkeys(runs))


def train_all(runs, retrain, total_iter=None):
    """Train (or reuse) every (variant, minutes) run, one after the other; returns (variant, minutes) -> (option
    file, checkpoint). The demo model goes first: the fine-tuned variants start from it. ``total_iter``: every model's
    iterations instead of its budget's (a shortened study)."""
    meta_info = osp.join(OUTPUT, 'meta_info_demo_train.txt')
    if not osp.isfile(meta_info):
        generate_meta_info.write_meta_info('datasets/demo/train/HR', meta_info)
    demo = variant_options('demo', DEMO_MINUTES, meta_info, None, total_iter)
    _, demo_checkpoint = run_demo.train_variant(demo, OUTPUT)
    models = {}
    for variant, minutes in runs:
        opt = variant_options(variant, minutes, meta_info, demo_checkpoint, total_iter)
        print(f'realworld_study: {opt["name"]}, {opt["train"]["total_iter"]} iterations', flush=True)
        models[variant, minutes] = run_demo.train_variant(opt, OUTPUT, retrain)
    return models


def heldout_inputs():
    """Test input name -> LR folder of the held-out photographs: each test degradation, and the clean bicubic LR."""
    inputs = {}
    for name in TEST_DEGRADATIONS:
        inputs[name] = write_degraded_lr(osp.join(HELDOUT, 'HR'), osp.join(OUTPUT, f'heldout_LR_{name}_X4'), name, 4)
    inputs['clean bicubic'] = osp.join(HELDOUT, 'LR_bicubic_X4')
    return inputs


def methods_of(models, color_fixes=()):
    """Method name -> function(lq, seed) -> SR: bicubic, IBP and every trained model (its option file's sampler; the
    demo model also without its LR projection, the sampler a degraded input calls for); the SRDDGAN samplers without
    the projection also with each of ``color_fixes``."""
    methods = {'bicubic': reference_method('bicubic', 4, 3), 'IBP': reference_method('ibp', 4, 3)}
    for (variant, minutes), (opt_path, checkpoint) in models.items():
        name = f'{variant} {minutes} min'
        upsampler = build_upsampler(opt_path, checkpoint, device='cpu')
        methods[name] = model_method(upsampler)
        if variant == 'demo':
            name = f'{name} (plain)'
            upsampler = build_upsampler(opt_path, checkpoint, device='cpu', lr_consistency='none')
            methods[name] = model_method(upsampler)
        if upsampler.diffusion and upsampler.project is None:
            for fix in color_fixes:
                fixed = build_upsampler(opt_path, checkpoint, device='cpu', lr_consistency='none', color_fix=fix)
                methods[f'{name} + {fix}'] = model_method(fixed)
    return methods


def score(methods, inputs, num_samples, max_images=None):
    """Test input -> method -> mean metrics over the held-out photographs."""
    results = {}
    for input_name, lq_dir in inputs.items():
        gt_dir = osp.join(HELDOUT, 'HR')
        args = benchmark_quality.parse_args(['--gt', gt_dir, '--lq', lq_dir, '--num_samples', str(num_samples),
                                             '--device', 'cpu'])
        pairs = load_pairs(gt_dir, lq_dir, 4, max_images=max_images, degraded_lq=input_name != 'clean bicubic')
        metrics = MetricSet(args)
        results[input_name] = {}
        for method, run in methods.items():
            results[input_name][method] = values = evaluate(method, run, pairs, metrics, args)
            print(f'{input_name} {method}: ' + ', '.join(f'{k} {v:.4g}' for k, v in values.items()), flush=True)
    return results


def tables(results):
    """One markdown table per test input (PSNR / SSIM / NIQE / SWD and the PSNR gain over bicubic)."""
    text = []
    for input_name, by_method in results.items():
        header = '| Method | ' + ' | '.join(title for _, title, _ in COLUMNS) + ' | vs bicubic |'
        lines = [f'### {input_name}\n', header, '|---|' + '---:|' * (len(COLUMNS) + 1)]
        for method, values in by_method.items():
            cells = [f'{values.get(key, float("nan")):.{digits}f}' for key, _, digits in COLUMNS]
            gain = values['psnr'] - by_method['bicubic']['psnr']
            lines.append(f'| {method} | ' + ' | '.join(cells) + f' | {gain:+.2f} |')
        text.append('\n'.join(lines) + '\n')
    return '\n'.join(text)


def plot(results, models, path):
    """Mean PSNR gain over bicubic on the degraded test inputs against the budget, one line per variant."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    degraded = [name for name in results if name in TEST_DEGRADATIONS]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for variant in dict.fromkeys(variant for variant, _ in models):
        budgets = sorted(minutes for v, minutes in models if v == variant)
        gains = [np.mean([results[name][f'{variant} {m} min']['psnr'] - results[name]['bicubic']['psnr']
                          for name in degraded]) for m in budgets]
        ax.plot(budgets, gains, marker='o', label=variant)
    ax.axhline(0, color='gray', lw=0.8, ls='--', label='bicubic')
    ax.set_xlabel('training budget (minutes of 2 CPU cores)')
    ax.set_ylabel('PSNR gain over bicubic (dB)')
    ax.set_title('held-out photographs, mean over the degraded inputs', fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp_path = f'{path}.tmp{os.getpid()}.png'
    fig.savefig(tmp_path, dpi=110)
    os.replace(tmp_path, path)


def main(argv=None):
    """Parse ``argv``, train, score, write the table and the plot; returns the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--variants', default=','.join(VARIANTS), help=f'Among {", ".join(VARIANTS)}; name@minutes: '
                        'at that budget alone.')
    parser.add_argument('--budgets', type=integers, default=[10], help='Minutes of training, e.g. 10,30,60.')
    parser.add_argument('--color_fix', default='wavelet,adain', help='Colour fixes scored beside each SRDDGAN '
                        "sampler without the LR projection (comma-separated; '' for none). Default: %(default)s.")
    parser.add_argument('--num_samples', type=int, default=1, help='Samples per image of each SRDDGAN model.')
    parser.add_argument('--total_iter', type=int, help="Every model's iterations instead of its budget's (tests).")
    parser.add_argument('--max_images', type=int, help='Score only the first N held-out photographs.')
    parser.add_argument('--train_only', action='store_true', help='Train the variants, score nothing.')
    parser.add_argument('--retrain', action='store_true', help='Train again even when a model is there.')
    parser.add_argument('--overwrite', action='store_true', help='Replace the table and plot of an earlier run.')
    args = parser.parse_args(argv)
    try:
        runs = runs_of(args.variants, args.budgets)
        variant_runs = [(variant, minutes) for variant, minutes in runs if iterations(variant, minutes)]
    except ValueError as error:
        parser.error(str(error))
    color_fixes = [fix for fix in args.color_fix.split(',') if fix]
    if unknown := [fix for fix in color_fixes if fix not in COLOR_FIXES]:
        parser.error(f'--color_fix: unknown {", ".join(unknown)}; expected among {", ".join(COLOR_FIXES)}.')
    os.chdir(ROOT)
    written = [path for path in (osp.join(OUTPUT, 'table.md'), osp.join(OUTPUT, 'budget.png')) if osp.lexists(path)]
    if written and not args.overwrite and not args.train_only:  # (trained models are reused: that is a rerun's use)
        parser.error(f'{osp.abspath(written[0])} exists: give --overwrite to replace the table and plot.')
    build_demo_dataset('datasets/demo', scale=4)
    os.makedirs(OUTPUT, exist_ok=True)
    models = train_all(variant_runs, args.retrain, args.total_iter)
    if args.train_only:
        return ''
    results = score(methods_of(models, color_fixes), heldout_inputs(), args.num_samples, args.max_images)
    text = tables(results)
    table = f'TEST_DEGRADATIONS = {TEST_DEGRADATIONS}\n\n{text}'
    atomic_write(osp.join(OUTPUT, 'table.md'), lambda f: f.write(table.encode()), overwrite=True)
    plot(results, models, osp.join(OUTPUT, 'budget.png'))
    print(f'\n{text}\nTable and plot in {OUTPUT}.')
    return text


if __name__ == '__main__':
    sys.exit(run_main(main, 'realworld_study.py'))
