"""Quick start: build the demo data, train the demo model on the CPU, score it beside bicubic and IBP, draw a figure.

Example: python scripts/run_demo.py

Steps: builds ``datasets/demo`` from photographs shipped with scikit-image unless it is there, trains
``options/train_SRDDGAN_demo_x4.yml`` with BasicSR's train pipeline (``srddgan_arch/train.py`` in a subprocess; a
recipe that fine-tunes another option file's model, such as ``train_SRDDGAN_demo_realworld_x4.yml``, trains that one
first when its checkpoint is missing), validates the trained EMA generator on the validation crops (never used for
training) with the option file's metrics and sampler, beside two references scored by the same code on the same
images: bicubic (BasicSR's MATLAB imresize) and IBP (bicubic + the same LR-consistency projection), writes the SR
samples under ``results/<name>_final`` and a
comparison figure ``results/<name>_final/comparison.png``, and ends with one line::

    demo_result: psnr=<dB> lr_psnr=<dB> bicubic_psnr=<dB> ibp_psnr=<dB> diversity=<pixel std> seconds=<s>

(diversity: the standard deviation across the samples of each pixel, 0-255 scale, averaged).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from os import path as osp

import cv2
import numpy as np
import yaml

from srddgan_arch.cli_errors import run_main

# the package first: BasicSR compatibility fixes and registration
from srddgan_arch.data.image_io import to_uint8, write_image
from srddgan_arch.lr_consistency import REFERENCES, reference_upscale
from srddgan_arch.option_files import load_yaml
from srddgan_arch.utils.training_state import atomic_write
from srddgan_tools.demo import build_demo_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

DEFAULT_OPT = 'options/train_SRDDGAN_demo_x4.yml'
LABEL_HEIGHT = 18


def evaluate(opt_path, label, checkpoint):
    """Validate the trained demo generator on the demo val set, with the references, and save its SR samples.

    Args:
        opt_path (str): The demo train option file (its network, diffusion, lr_consistency, val and datasets.val
            sections are used).
        label (str): Name of the evaluation; samples go to ``results/<name>_<label>/visualization``.
        checkpoint (str): Generator checkpoint (its ``params_ema`` is loaded).

    Returns:
        tuple[dict, dict, str]: The model's metrics (mean over the val images and samples), the references'
        metrics (method -> metric -> mean) and the folder of the saved samples.
    """
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model

    opt = load_yaml(opt_path)
    name = f'{opt["name"]}_{label}'
    results_root = osp.join('results', name)
    opt.update(name=name, is_train=False, dist=False, rank=0, world_size=1, num_gpu=0)
    opt['path'] = dict(pretrain_network_g=checkpoint, param_key_g='params_ema', strict_load_g=True,
                       results_root=results_root, visualization=osp.join(results_root, 'visualization'))
    opt['val']['suffix'] = label
    val_opt = dict(opt['datasets']['val'], phase='val', scale=opt['scale'])
    opt['datasets'] = {'val': val_opt}
    loader = build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False, sampler=None)
    model = build_model(opt)
    model.validation(loader, current_iter=0, tb_logger=None, save_img=True)
    samples_dir = osp.join(opt['path']['visualization'], val_opt['name'])
    return dict(model.metric_results), model.reference_results[val_opt['name']], samples_dir


def train(opt_path, total_iter=None):
    """Run BasicSR's train pipeline on ``opt_path`` in a subprocess; returns the experiment's latest G checkpoint."""
    command = [sys.executable, osp.join(ROOT, 'srddgan_arch', 'train.py'), '-opt', opt_path]
    if total_iter is not None:
        command += ['--force_yml', f'train:total_iter={total_iter}']
    subprocess.run(command, check=True, cwd=ROOT)
    name = load_yaml(opt_path)['name']
    return osp.join('experiments', name, 'models', 'net_g_latest.pth')


def train_prerequisite(opt, total_iter=None):
    """Train the model an option dict starts from when its checkpoint is missing and an option file of ``options/``
    makes it: ``path.pretrain_network_g`` ``experiments/<name>/models/net_g_latest.pth`` with ``options/<name>.yml``
    (the real-world recipe fine-tunes the demo model, as Real-ESRGAN starts from ESRGAN), for ``total_iter``
    iterations when given. Anything else missing is left to the run's start-up checks."""
    path = (opt.get('path') or {}).get('pretrain_network_g')
    if not path or osp.isfile(path):
        return
    parts = osp.normpath(path).split(os.sep)
    source = osp.join(ROOT, 'options', f'{parts[1]}.yml') if len(parts) == 4 else ''
    if parts[0] == 'experiments' and parts[2:] == ['models', 'net_g_latest.pth'] and osp.isfile(source):
        print(f'run_demo: {path} is missing: training {osp.relpath(source, ROOT)} first (this recipe starts from it).',
              flush=True)
        train(source, total_iter)


def train_variant(opt, folder, retrain=False):
    """Write the option dict ``opt`` to ``folder/options/<name>.yml`` and train it, unless its experiment holds a
    latest G checkpoint already (the studies that train several variants of the demo reuse their models).

    Args:
        opt (dict): Train options, with the experiment's ``name``.
        folder (str): The study's output folder.
        retrain (bool): Train even when a checkpoint is there. Default: False.

    Returns:
        tuple[str, str]: The option file and the latest G checkpoint.
    """
    os.makedirs(osp.join(folder, 'options'), exist_ok=True)
    opt_path = osp.join(folder, 'options', f'{opt["name"]}.yml')
    atomic_write(opt_path, lambda f: f.write(yaml.safe_dump(opt, sort_keys=False).encode()))
    checkpoint = osp.join('experiments', opt['name'], 'models', 'net_g_latest.pth')
    if retrain or not osp.isfile(checkpoint):
        checkpoint = train(osp.abspath(opt_path))
    return opt_path, checkpoint


def _labelled(img, label):
    """A uint8 BGR tile with a white strip and ``label`` above it."""
    strip = np.full((LABEL_HEIGHT, img.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, label, (3, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, img], axis=0)


def comparison_figure(val_opt, samples_dir, label, scale, iterations, path, num_shown=2):
    """Write a PNG with one row per validation crop: LR (nearest), bicubic, IBP, two SRDDGAN samples, HR, labelled.

    Args:
        val_opt (dict): The validation data set's options (its LR is what the model was given: read from files, or
            made by a degraded data set's fixed draw).
        samples_dir (str): Folder of the saved samples (``<stem>_<label>_s<k>.png``).
        label (str): Suffix of the saved samples.
        scale (int): SR scale.
        iterations (int): Projection iterations of the IBP reference (the sampler's).
        path (str): Output PNG.
        num_shown (int): Samples shown per crop. Default: 2.
    """
    from basicsr.data import build_dataset

    rows = []
    dataset = build_dataset(dict(val_opt, phase='val', scale=scale))
    for item in (dataset[index] for index in range(len(dataset))):  # (an index past the end wraps around)
        stem = osp.splitext(osp.basename(item['lq_path']))[0]
        hr, lq = (to_uint8(item[key].numpy().transpose(1, 2, 0)[:, :, ::-1]) for key in ('gt', 'lq'))
        lq_tensor = item['lq'][None].flip(1)  # BGR, as the references below are drawn
        references = [reference_upscale(lq_tensor, scale, name, iterations) for name in REFERENCES]
        bicubic, ibp = [(t[0].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8) for t in references]
        tiles = [('LR (nearest)', cv2.resize(lq, hr.shape[1::-1], interpolation=cv2.INTER_NEAREST)),
                 ('bicubic', bicubic), ('IBP', ibp)]
        tiles += [(f'SRDDGAN sample {k + 1}', cv2.imread(osp.join(samples_dir, f'{stem}_{label}_s{k}.png')))
                  for k in range(num_shown)]
        tiles.append(('HR', hr))
        rows.append(np.concatenate([_labelled(img, name) for name, img in tiles], axis=1))
    write_image(path, np.concatenate(rows, axis=0).astype(np.float32) / 255)


def summary(metrics, references, iters, seconds):
    """The human sentence and the ``demo_result`` line."""
    psnr, lr_psnr, ibp = metrics['psnr'], metrics['lr_psnr'], references['ibp']['psnr']
    verdict = 'beats' if psnr > ibp else 'does NOT beat'
    sentence = (f'SRDDGAN demo ({iters} iterations): PSNR {psnr:.2f} dB, LR-PSNR {lr_psnr:.2f} dB; bicubic '
                f'{references["bicubic"]["psnr"]:.2f} / {references["bicubic"]["lr_psnr"]:.2f} dB, IBP {ibp:.2f} / '
                f'{references["ibp"]["lr_psnr"]:.2f} dB on the same validation crops: SRDDGAN {verdict} IBP by '
                f'{psnr - ibp:+.2f} dB.')
    line = (f'demo_result: psnr={psnr:.2f} lr_psnr={lr_psnr:.2f} bicubic_psnr={references["bicubic"]["psnr"]:.2f} '
            f'ibp_psnr={ibp:.2f} diversity={metrics["sample_std"]:.3f} seconds={seconds:.0f}')
    return sentence, line


def main(argv=None):
    """Parse ``argv`` (default: the command line), run the demo and return the ``demo_result`` line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', '--opt', default=DEFAULT_OPT, help='demo option file, e.g. '
                        'options/train_SRDDGAN_demo_perceptual_x4.yml. Default: %(default)s.')
    parser.add_argument('--total-iter', type=int, default=None, help='override train.total_iter (of the model a '
                        'recipe starts from too, when it is trained first)')
    parser.add_argument('--overwrite', action='store_true', help='replace the results of an earlier run')
    args = parser.parse_args(argv)
    start = time.time()
    opt_path = osp.abspath(args.opt if osp.isfile(args.opt) else osp.join(ROOT, args.opt))
    os.chdir(ROOT)
    opt = load_yaml(opt_path)
    results = osp.join('results', f'{opt["name"]}_final')
    if osp.lexists(results) and not args.overwrite:  # (BasicSR archives an earlier experiments/<name> itself)
        parser.error(f'{osp.abspath(results)} holds the results of an earlier run: give --overwrite to replace them.')
    if osp.lexists(results):
        shutil.rmtree(results)
    build_demo_dataset('datasets/demo', scale=opt['scale'])
    train_prerequisite(opt, args.total_iter)
    metrics, references, samples_dir = evaluate(opt_path, 'final', train(opt_path, args.total_iter))
    iterations = (opt.get('lr_consistency') or {}).get('iterations', 3)
    figure = osp.join('results', f'{opt["name"]}_final', 'comparison.png')
    comparison_figure(opt['datasets']['val'], samples_dir, 'final', opt['scale'], iterations, figure)
    sentence, line = summary(metrics, references, args.total_iter or opt['train']['total_iter'], time.time() - start)
    print(f'{sentence}\nSR samples in {samples_dir}; comparison figure {figure}.\n{line}', flush=True)
    return line


if __name__ == '__main__':
    sys.exit(run_main(main, 'run_demo.py'))
