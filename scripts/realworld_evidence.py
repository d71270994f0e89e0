"""Real-world degradation at CPU scale: the demo model trained on bicubic LR, on the paper's degradation and on
Real-ESRGAN's, scored on held-out photographs degraded in a way none of them trains on.

Example: python scripts/realworld_evidence.py            (about an hour on 2 idle cores; not part of the Quick start)

Steps: builds ``datasets/demo`` unless it is there; trains ``options/train_SRDDGAN_demo_x4.yml`` (the demo: bicubic
LR) and two variants of it that differ only in their training data: ``paper`` (``SRDDGANDegradedDataset`` with the
degradation block of ``train_SRDDGAN_DIV2K_x4_degraded.yml``) and ``realesrgan`` (``SRDDGANRealESRGANDataset`` and the
``realesrgan`` section of ``train_SRDDGAN_RealESRGAN_x4.yml``, on the demo's 128-px HR sub-images: ``crop_pad_size``
128), each for the demo's iterations (a trained model is reused unless ``--retrain``). Then degrades the held-out
photographs with ``REALWORLD``, a fixed camera-like degradation, and scores on them and on their clean bicubic LR:
bicubic interpolation, the demo model (with its LR-consistent sampler and without) and each degradation-trained model
(PSNR / SSIM against the clean HR, NIQE), through ``benchmark_quality.py``'s code. Writes
``results/realworld_evidence/{table.md,realworld.png}`` and the option files it trained.
"""
import argparse
import os
import sys
from os import path as osp

import benchmark_quality  # a script of this folder (Python puts a script's folder on sys.path)
import cv2
import generate_meta_info
import numpy as np
import run_demo

from srddgan_arch.cli_errors import run_main
from srddgan_arch.data.image_files import list_images
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.option_files import load_yaml
from srddgan_tools.demo import build_demo_dataset
from srddgan_tools.evaluation_pairs import load_pairs
from srddgan_tools.quality import MetricSet, evaluate, model_method, reference_method

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # where data, experiments and results go
OPTIONS = osp.join(ROOT, 'options')

OUTPUT = 'results/realworld_evidence'
# the fixed test degradation: anisotropic Gaussian blur (sigmas 1.6 and 0.8 HR px, rotated 30 degrees), MATLAB
# bicubic x4 (antialiased: neither pipeline resizes with it), colour Gaussian noise of sigma 6/255, JPEG quality 55
REALWORLD = {'blur_sigmas': (1.6, 0.8), 'blur_angle': 30, 'noise_sigma': 6, 'jpeg_quality': 55, 'seed': 0}
COLUMNS = (('psnr', 'PSNR ↑', 2), ('ssim', 'SSIM ↑', 4), ('niqe', 'NIQE ↓', 2))
FIGURE_PHOTO = 'grace_hopper.png'  # the colour one of the held-out photographs


def realworld_degrade(hr, scale, blur_sigmas, blur_angle, noise_sigma, jpeg_quality, seed):
    """``REALWORLD``'s degradation of one uint8 BGR HR image -> uint8 BGR LR (h / scale, w / scale)."""
    from basicsr.data.degradations import bivariate_Gaussian
    from basicsr.utils.matlab_functions import imresize
    kernel = bivariate_Gaussian(21, blur_sigmas[0], blur_sigmas[1], np.deg2rad(blur_angle), isotropic=False)
    blurred = cv2.filter2D(hr.astype(np.float32) / 255, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    lr = imresize(blurred, 1 / scale)
    lr = lr + np.random.default_rng(seed).normal(0, noise_sigma / 255, lr.shape)
    _, encoded = cv2.imencode('.jpg', np.clip(lr * 255, 0, 255).round().astype(np.uint8),
                              [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def write_realworld_lr(hr_dir, lr_dir, scale):
    """The held-out photographs' LR under ``REALWORLD`` (seed + index per image), as PNG files named as the HR."""
    os.makedirs(lr_dir, exist_ok=True)
    for index, path in enumerate(list_images(hr_dir)):
        settings = dict(REALWORLD, seed=REALWORLD['seed'] + index)
        lr = realworld_degrade(cv2.imread(path), scale, **settings)
        cv2.imwrite(osp.join(lr_dir, osp.splitext(osp.basename(path))[0] + '.png'), lr)


def variant_options(pipeline, total_iter=None):
    """The demo option dict trained on ``pipeline``: 'bicubic' (the demo), 'paper' or 'realesrgan'."""
    opt = load_yaml(osp.join(OPTIONS, 'train_SRDDGAN_demo_x4.yml'))
    if total_iter is not None:
        opt['train']['total_iter'] = total_iter
    if pipeline == 'bicubic':
        return opt
    train = opt['datasets']['train']
    keep = {key: train[key] for key in ('dataroot_gt', 'io_backend', 'gt_size', 'use_hflip', 'use_rot',
                                        'num_worker_per_gpu', 'batch_size_per_gpu', 'dataset_enlarge_ratio')}
    opt['name'] = f'{opt["name"]}_{pipeline}'
    opt['lr_consistency'] = {'downsampler': 'none'}  # the degraded LR has no known downsampler
    if pipeline == 'paper':
        degraded = load_yaml(osp.join(OPTIONS, 'train_SRDDGAN_DIV2K_x4_degraded.yml'))['datasets']['train']
        opt['datasets']['train'] = dict(keep, name='demo_paper', type='SRDDGANDegradedDataset',
                                        degradation=degraded['degradation'])
    else:
        source = load_yaml(osp.join(OPTIONS, 'train_SRDDGAN_RealESRGAN_x4.yml'))
        kernels = {key: value for key, value in source['datasets']['train'].items()
                   if key.startswith(('blur_', 'kernel_', 'sinc_', 'betag_', 'betap_', 'final_sinc'))}
        opt['datasets']['train'] = dict(keep, **kernels, name='demo_realesrgan', type='SRDDGANRealESRGANDataset',
                                        crop_pad_size=128, meta_info=osp.join(OUTPUT, 'meta_info_demo_train.txt'))
        opt['realesrgan'] = source['realesrgan']
    return opt


def train_variants(pipelines, total_iter, retrain):
    """Train (or reuse) each pipeline's model; returns pipeline -> (option file, checkpoint)."""
    os.makedirs(OUTPUT, exist_ok=True)
    meta_info = osp.join(OUTPUT, 'meta_info_demo_train.txt')
    if not osp.isfile(meta_info):
        generate_meta_info.write_meta_info('datasets/demo/train/HR', meta_info)
    return {pipeline: run_demo.train_variant(variant_options(pipeline, total_iter), OUTPUT, retrain)
            for pipeline in pipelines}


def score(models, gt_dir, lq_dir, max_images=None):
    """method -> mean metrics on (gt_dir, lq_dir), with benchmark_quality's metric code; and the SR images."""
    args = benchmark_quality.parse_args(['--gt', gt_dir, '--lq', lq_dir, '--num_samples', '1'])
    args.device = 'cpu'
    pairs = load_pairs(gt_dir, lq_dir, 4, max_images=max_images, degraded_lq=True)
    methods = {'bicubic': reference_method('bicubic', 4, 3)}
    for pipeline, (opt_path, checkpoint) in models.items():
        samplers = {'': None} if pipeline != 'bicubic' else {' (LR-consistent)': 'bicubic', ' (plain)': 'none'}
        for suffix, lr_consistency in samplers.items():
            upsampler = build_upsampler(opt_path, checkpoint, device='cpu', lr_consistency=lr_consistency)
            methods[f'SRDDGAN trained on {pipeline} LR{suffix}'] = model_method(upsampler)
    metrics, results, images = MetricSet(args), {}, {}
    shown = next((pair for pair in pairs if pair[0] == FIGURE_PHOTO), pairs[0])
    for method, run in methods.items():
        results[method] = evaluate(method, run, pairs, metrics, args)
        images[method] = run(shown[2], args.seed)
        print(f'{method}: ' + ', '.join(f'{k} {v:.4g}' for k, v in results[method].items()), flush=True)
    return results, images, shown


def table(results_by_input):
    """Markdown table: one row per method, PSNR / SSIM / NIQE per input."""
    inputs = list(results_by_input)
    header = '| Method | ' + ' | '.join(f'{title} {name}' for name in inputs for _, title, _ in COLUMNS) + ' |'
    lines = [header, '|---|' + '---:|' * (len(inputs) * len(COLUMNS))]
    for method in results_by_input[inputs[0]]:
        cells = [f'{results_by_input[name][method].get(key, float("nan")):.{digits}f}'
                 for name in inputs for key, _, digits in COLUMNS]
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_text(path, text):
    """Write ``text`` to a temporary file beside ``path``, then rename it."""
    with open(f'{path}.tmp{os.getpid()}', 'w') as f:
        f.write(text)
    os.replace(f'{path}.tmp{os.getpid()}', path)


def figure(images, pair, path, box=(40, 170, 200)):
    """A labelled row of crops (``box``: top, left, side in HR pixels) of one held-out photograph: LR (nearest), each
    method, HR."""
    name, gt, lq = pair
    top, left, side = box
    tiles = [('LR (nearest)', cv2.resize(lq, gt.shape[1::-1], interpolation=cv2.INTER_NEAREST))]
    tiles += [(method.replace('SRDDGAN trained on ', '').replace(' LR', ''), img) for method, img in images.items()]
    tiles.append(('HR', gt))
    row = [run_demo._labelled(np.ascontiguousarray(img[top:top + side, left:left + side]), label[:26])
           for label, img in tiles]
    tmp_path = f'{path}.tmp{os.getpid()}.png'
    cv2.imwrite(tmp_path, np.concatenate(row, axis=1))
    os.replace(tmp_path, path)


def main(argv=None):
    """Parse ``argv``, train, score, write the table and the figure; returns the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pipelines', default='bicubic,paper,realesrgan', help='Training pipelines to compare.')
    parser.add_argument('--total_iter', type=int, help="Training iterations. Default: the demo's.")
    parser.add_argument('--max_images', type=int, help='Score only the first N held-out photographs.')
    parser.add_argument('--retrain', action='store_true', help='Train again even when a model is there.')
    parser.add_argument('--overwrite', action='store_true', help='Replace the table and figure of an earlier run.')
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    written = [path for path in (osp.join(OUTPUT, 'table.md'), osp.join(OUTPUT, 'realworld.png')) if osp.lexists(path)]
    if written and not args.overwrite:  # (its trained models are reused: that is what a rerun is for)
        parser.error(f'{osp.abspath(written[0])} exists: give --overwrite to replace the table and figure.')
    build_demo_dataset('datasets/demo', scale=4)
    models = train_variants(args.pipelines.split(','), args.total_iter, args.retrain)
    heldout = 'datasets/demo/heldout'
    realworld_lr = osp.join(OUTPUT, 'heldout_LR_realworld_X4')
    write_realworld_lr(osp.join(heldout, 'HR'), realworld_lr, 4)
    realworld, images, pair = score(models, osp.join(heldout, 'HR'), realworld_lr, args.max_images)
    clean, _, _ = score(models, osp.join(heldout, 'HR'), osp.join(heldout, 'LR_bicubic_X4'), args.max_images)
    text = table({'real-world-like LR': realworld, 'bicubic LR': clean})
    write_text(osp.join(OUTPUT, 'table.md'), f'REALWORLD = {REALWORLD}\n\n{text}')
    figure(images, pair, osp.join(OUTPUT, 'realworld.png'))
    print(f'\n{text}\nTable and figure in {OUTPUT}.')
    return text


if __name__ == '__main__':
    sys.exit(run_main(main, 'realworld_evidence.py'))
