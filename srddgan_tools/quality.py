"""What a quality benchmark computes, shared by ``scripts/benchmark_quality.py`` and the studies that score with it:
the methods as functions of an LR image and a seed (a reference, an upsampler), the metric set of srddgan-test's
benchmark convention plus the extra columns, a method's mean scores over GT/LR pairs, and the markdown table."""
import argparse
import time
from functools import partial
from os import path as osp

import numpy as np
import torch

from srddgan_arch.data.image_io import to_uint8, write_image
from srddgan_arch.inference.upsampler import mean_of_samples
from srddgan_arch.lr_consistency import reference_upscale
from srddgan_arch.metrics.benchmark import benchmark_metrics
from srddgan_arch.models.sample_validation import image_metrics
from srddgan_arch.options.signatures import NIQE_MIN_SIDE

COLUMNS = [('psnr', 'PSNR ↑', 2), ('ssim', 'SSIM ↑', 4), ('psnr_y', 'PSNR-Y ↑', 2), ('ssim_y', 'SSIM-Y ↑', 4),
           ('lpips', 'LPIPS ↓', 3), ('lr_psnr', 'LR-PSNR ↑', 2),
           ('niqe', 'NIQE ↓', 2), ('swd', 'SWD ↓', 3), ('diversity', 'Diversity ↑', 2),
           ('sample_std', 'Pixel std ↑', 2), ('sharpness', 'Sharpness', 3), ('seconds', 's/image', 3)]
# the columns that compare with the HR: left out when there is none (--lq alone)
NEEDS_HR = ('psnr', 'ssim', 'psnr_y', 'ssim_y', 'lpips', 'swd', 'diversity', 'sharpness')


def reference_method(reference, scale, iterations):
    """function(lq uint8 BGR, seed) -> SR uint8 BGR of the bicubic or IBP reference (computed as validation does)."""
    def run(lq, seed):
        lq_tensor = torch.from_numpy(lq.transpose(2, 0, 1).astype(np.float32) / 255)[None]
        sr = reference_upscale(lq_tensor, scale, reference, iterations)
        return to_uint8(sr[0].numpy().transpose(1, 2, 0))
    return run


def model_method(upsampler, mean_of=1):
    """function(lq uint8 BGR, seed) -> SR uint8 BGR of an upsampler (the mean of ``mean_of`` samples, seeds seed,
    seed + 1, ...), with the upsampler as its ``upsampler`` attribute; ``draws_samples``: a seed draws one sample
    of several (its diversity is measured)."""
    def run(lq, seed):
        return to_uint8(mean_of_samples(upsampler, lq.astype(np.float32) / 255, range(seed, seed + mean_of)))
    run.upsampler, run.draws_samples = upsampler, upsampler.diffusion and mean_of == 1
    return run


class MetricSet:
    """The metrics of the table: the benchmark convention's (``srddgan_arch.metrics.benchmark``, as srddgan-test's
    option files list them, computed by srddgan-test's ``image_metrics``) and the extra columns (SWD, sharpness,
    pixel std); records why an unavailable one is n/a."""

    def __init__(self, args):
        self.args = args
        self.notes = {}

    def guarded(self, key, fn):
        """``fn()``, or None when it raised FileNotFoundError (missing weights; the reason goes to the notes)."""
        if key in self.notes:
            return None
        try:
            return fn()
        except FileNotFoundError as error:
            self.notes[key] = str(error)
            return None

    def entries(self, samples, gt):
        """The metric entries for the samples of one LR image (NIQE left out on images too small for it)."""
        niqe = not self.args.no_niqe and min(samples[0].shape[:2]) >= NIQE_MIN_SIDE
        if not self.args.no_niqe and not niqe:
            self.notes['niqe'] = f'NIQE needs images of at least {NIQE_MIN_SIDE}x{NIQE_MIN_SIDE} pixels.'
        metrics = benchmark_metrics(self.args.scale, len(samples) > 1, self.args.lpips_backbone, niqe)
        if gt is None:
            return {name: metrics[name] for name in ('lr_psnr', 'niqe') if name in metrics}
        return dict(metrics, swd={'type': 'calculate_swd'}, sharpness={'type': 'calculate_sharpness'})

    def image(self, samples, gt, lq):
        """The metrics of the SR samples of one LR image, as srddgan-test computes them: per-image ones averaged over
        the samples, diversity and pixel std over the set; without ``gt`` (None) only those that need no HR."""
        values = {}
        for name, metric_opt in self.entries(samples, gt).items():
            try:
                result = self.guarded(name, partial(image_metrics, {name: metric_opt}, samples, gt, lq))
                if result is not None:
                    values[name] = result[name]
            except np.linalg.LinAlgError:  # flat images have no natural-scene statistics
                self.notes['niqe'] = 'NIQE is undefined on some (flat) images; the mean skips them.'
        if len(samples) > 1:
            values['sample_std'] = image_metrics({'s': {'type': 'calculate_sample_std'}}, samples, gt, lq)['s']
        return values


def evaluate(method, run, pairs, metrics, args, save_dir=None):
    """Mean metrics of one method over the pairs (a stochastic one: its ``--num_samples`` samples of seeds seed,
    seed + 1, ..., as srddgan-test draws them with val.seed); saves its first samples under ``save_dir`` when given."""
    totals = {}
    for name, gt, lq in pairs:
        start = time.perf_counter()
        samples = [run(lq, args.seed)]
        seconds = time.perf_counter() - start  # the method alone, not its metrics
        if getattr(run, 'draws_samples', False) and args.num_samples > 1:
            samples += [run(lq, args.seed + i) for i in range(1, args.num_samples)]
        values = dict(metrics.image(samples, gt, lq), seconds=seconds)
        if save_dir:
            write_image(osp.join(save_dir, osp.splitext(name)[0] + '.png'), samples[0].astype(np.float32) / 255)
        for key, value in values.items():
            if value is not None:
                totals.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in totals.items()}


def markdown_table(results, notes, with_fid=False, with_hr=True):
    """The results as a markdown table (n/a for missing values) with the notes below; ``with_hr`` False leaves out
    the columns that need the HR."""
    columns = [column for column in COLUMNS if with_hr or column[0] not in NEEDS_HR]
    columns += [('fid', 'FID ↓', 2), ('is_mean', 'IS ↑', 2)] if with_fid else []
    lines = ['| Method | ' + ' | '.join(title for _, title, _ in columns) + ' |',
             '|---|' + '---:|' * len(columns)]
    for method, values in results.items():
        cells = [f'{values[key]:.{digits}f}' if key in values else 'n/a' for key, _, digits in columns]
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    lines += [''] + [f'- {key}: n/a: {reason}' for key, reason in sorted(notes.items())]
    return '\n'.join(lines) + '\n'


def integers(text):
    """'2,4,8' -> (2, 4, 8), each >= 1."""
    values = tuple(int(value) for value in text.split(','))
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f'{text}: expected positive integers.')
    return values


def numbers(text):
    """'0.25,0.5' -> (0.25, 0.5), each in [0, 1]."""
    values = tuple(float(value) for value in text.split(','))
    if not all(0 <= value <= 1 for value in values):
        raise argparse.ArgumentTypeError(f'{text}: expected numbers from 0 to 1.')
    return values
