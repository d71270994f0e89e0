"""Scales of the terms of G's loss (Eq. 22) at initialisation: each term's value and the norm of its gradient with
respect to G's output.

    python scripts/loss_scales.py -opt options/train_SRDDGAN_DIV2K_x4.yml [--vgg_path vgg19-dcbb9e9d.pth] [--batch N]

Builds SRDDGANModel from the option file on the CPU (G and D as at iteration 0), takes one training batch (from
the option file's training data when its folders exist, else random crops of scikit-image's photographs with their
MATLAB-bicubic LR, said in the output), makes G's prediction y0' as a G step does (t ~ U{1..T}, y_t, z) and prints,
for each weighted term of Eq. 22 (alpha L_adv, beta L_content, eta L_style; a pixel loss when configured), its value
and the L2 norm of its gradient with respect to y0'. The last line, ``weakest_over_strongest: r``, is the smallest
of these norms over the largest: a term whose gradient is orders of magnitude below the others does not train G.
Every term is a batch mean, so the batch size scales all gradient norms alike and leaves the ratio unchanged.

The VGG weights come from --vgg_path, the option file's pretrained_path or torchvision's cache (downloaded there when
online). Without them the VGG has random weights (torchvision's initialisation), and the output says so: the
content/style scales of the ImageNet weights differ. Training never falls back to random weights.
"""
import argparse
import sys
from os import path as osp

import numpy as np
import torch

import srddgan_arch  # noqa: F401  (compatibility fixes and registration, before basicsr is imported)
from srddgan_arch.cli_errors import run_main
from srddgan_arch.data.preflight import check_data_sets
from srddgan_arch.option_files import load_yaml, option_file_argument
from srddgan_arch.options import OptionError
from srddgan_tools.demo import TRAIN_PHOTOS
from srddgan_tools.standalone import build_standalone_model, training_batch_size

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

EQ22_SYMBOLS = {'l_g_adv': 'alpha L_adv', 'l_g_content': 'beta L_content', 'l_g_style': 'eta L_style',
                'l_g_pix': 'pixel loss'}


def build_model(opt, vgg_path=None):
    """(SRDDGANModel at initialisation, a line saying which VGG weights its content/style loss uses)."""
    if not opt['train'].get('content_style_opt'):
        return build_standalone_model(opt), 'no content/style loss'
    try:
        model = build_standalone_model(opt, pretrained_vgg=True, vgg_path=vgg_path)
        return model, f"VGG weights: {vgg_path or 'pretrained (pretrained_path or torchvision cache)'}"
    except FileNotFoundError as error:
        if vgg_path is not None:
            raise
        note = (f'VGG weights: RANDOM (torchvision initialisation); the content/style scales of the ImageNet weights '
                f'differ: rerun with --vgg_path. Reason: {error}')
        return build_standalone_model(opt), note


def dataset_batch(opt, batch, generator):
    """``batch`` random items of the option file's training set as one batch dict (gt, and lq unless the model
    degrades), or None with the reason when its folders do not exist."""
    from basicsr.data import build_dataset

    dataset_opt = dict((opt.get('datasets') or {}).get('train') or {}, phase='train', scale=opt['scale'])
    if dataset_opt.get('dataroot_gt') is None:
        return None, 'the option file has no datasets.train.dataroot_gt'
    try:
        check_data_sets({'datasets': {'train': dataset_opt}, 'is_train': True, 'scale': opt['scale']})
    except OptionError as error:
        return None, str(error)
    dataset = build_dataset(dataset_opt)
    items = [dataset[int(i)] for i in torch.randperm(len(dataset), generator=generator)[:batch]]
    return {key: torch.stack([item[key] for item in items]) for key in ('gt', 'lq') if key in items[0]}, None


def photo_batch(batch, gt_size, scale, generator):
    """``batch`` random gt_size crops of scikit-image's photographs (RGB in [0, 1]) and their MATLAB-bicubic LR."""
    from basicsr.utils.matlab_functions import imresize

    photos = [loader().astype(np.float32) / 255 for loader in TRAIN_PHOTOS.values()]
    gts, lqs = [], []
    for _ in range(batch):
        photo = photos[int(torch.randint(len(photos), (1, ), generator=generator))]
        top, left = (int(torch.randint(n - gt_size + 1, (1, ), generator=generator)) for n in photo.shape[:2])
        crop = photo[top:top + gt_size, left:left + gt_size]
        gts.append(torch.from_numpy(crop.transpose(2, 0, 1).copy()))
        lqs.append(torch.from_numpy(np.clip(imresize(crop, 1 / scale), 0, 1).transpose(2, 0, 1).copy()).float())
    return {'gt': torch.stack(gts), 'lq': torch.stack(lqs)}


def draw_batch(opt, batch, seed):
    """(one training batch dict, a line saying where it comes from)."""
    generator = torch.Generator().manual_seed(seed)
    data, reason = dataset_batch(opt, batch, generator)
    if data is not None:
        return data, f'data: {batch} items of datasets.train'
    gt_size = (opt.get('datasets') or {}).get('train', {}).get('gt_size') or opt['network_g']['image_size']
    data = photo_batch(batch, gt_size, opt['scale'], generator)
    return data, (f'data: SYNTHETIC, {batch} random {gt_size}x{gt_size} crops of scikit-image photographs with '
                  f'MATLAB-bicubic LR. Reason: {reason}')


def loss_scales(model, data):
    """Each weighted term of Eq. 22 for one G step on ``data``: name -> (value, L2 norm of d term / d y0').

    Args:
        model (SRDDGANModel): The model.
        data (dict): A training batch (``gt``, ``lq``).

    Returns:
        tuple[dict[str, tuple[float, float]], Tensor]: The terms and the steps t of the batch.
    """
    model.feed_data(data)
    y0, x = model.gt * 2 - 1, model.lq * 2 - 1
    with torch.no_grad():
        y0_pred, y_t, t = model.predict_y0(y0, x)
    y0_pred.requires_grad_(True)
    terms = model.generator_losses(y0_pred, y0, y_t, t, x)
    scales = {}
    for name, value in terms.items():
        grad, = torch.autograd.grad(value, y0_pred, retain_graph=True)
        scales[name] = (value.item(), grad.norm().item())
    return scales, t


def main(argv=None):
    """Print the table of the terms of Eq. 22 and return the weakest-over-strongest gradient ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', required=True, type=option_file_argument,
                        help='A train option file, e.g. options/train_SRDDGAN_DIV2K_x4.yml.')
    parser.add_argument('--vgg_path', help="VGG weights (torchvision's vgg19-dcbb9e9d.pth). Default: the option "
                        "file's pretrained_path or torchvision's cache.")
    parser.add_argument('--batch', type=int, help="Images in the batch. Default: the option file's training batch "
                        '(train.total_batch, else datasets.train.batch_size_per_gpu).')
    parser.add_argument('--seed', type=int, default=0, help='Seed of the networks, batch, t and z. Default: 0.')
    args = parser.parse_args(argv)

    opt = load_yaml(args.opt)
    torch.manual_seed(args.seed)
    model, vgg_note = build_model(opt, args.vgg_path)
    data, data_note = draw_batch(opt, args.batch or training_batch_size(opt), args.seed)
    scales, t = loss_scales(model, data)
    norms = [norm for _, norm in scales.values()]
    ratio = min(norms) / max(norms)
    steps = ', '.join(f't={step}: {int((t == step).sum())}' for step in range(1, model.schedule.num_timesteps + 1))
    print(f'{osp.basename(args.opt)} at initialisation, images per step {steps}\n{data_note}\n{vgg_note}\n')
    print('| term | Eq. 22 | value | gradient norm w.r.t. y0\' |\n|---|---|---:|---:|')
    for name, (value, norm) in scales.items():
        print(f'| {name} | {EQ22_SYMBOLS[name]} | {value:.4g} | {norm:.3g} |')
    print(f'\nweakest_over_strongest: {ratio:.3g}')
    return ratio


if __name__ == '__main__':
    sys.exit(run_main(main, 'loss_scales.py'))
