"""Models from options alone, as at iteration 0, for the scripts that measure one training iteration
(``estimate_gpu_hours.py``: FLOPs, ``loss_scales.py``: the terms of Eq. 22, ``benchmark_speed.py --train``: time and
FLOPs beside ESRGAN's): SRDDGANModel from train options, BasicSR's ESRGAN and RRDB models as BasicSR trains them, and
the kinds of iteration in a model's schedule."""
import math
from collections import Counter
from copy import deepcopy
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from srddgan_arch.losses.vgg_features import VGGFeatures
from srddgan_tools.cost import count_gflops, time_ms

# BasicSR's options/train/ESRGAN/train_ESRGAN_x4.yml (its perceptual loss: ``RandomVGGPerceptualLoss``)
ESRGAN_TRAIN = dict(
    ema_decay=0.999, total_iter=400000, warmup_iter=-1, net_d_iters=1, net_d_init_iters=0,
    optim_g=dict(type='Adam', lr=1e-4, weight_decay=0, betas=[0.9, 0.99]),
    optim_d=dict(type='Adam', lr=1e-4, weight_decay=0, betas=[0.9, 0.99]),
    scheduler=dict(type='MultiStepLR', milestones=[50000, 100000, 200000, 300000], gamma=0.5),
    pixel_opt=dict(type='L1Loss', loss_weight=1e-2, reduction='mean'),
    gan_opt=dict(type='GANLoss', gan_type='vanilla', real_label_val=1.0, fake_label_val=0.0, loss_weight=5e-3))
# BasicSR's options/train/ESRGAN/train_RRDBNet_PSNR_x4.yml: the same RRDBNet trained with L1 alone
RRDB_TRAIN = dict(
    ema_decay=0.999, total_iter=1000000, warmup_iter=-1,
    optim_g=dict(type='Adam', lr=2e-4, weight_decay=0, betas=[0.9, 0.99]),
    scheduler=dict(type='CosineAnnealingRestartLR', periods=[250000] * 4, restart_weights=[1] * 4, eta_min=1e-7),
    pixel_opt=dict(type='L1Loss', loss_weight=1.0, reduction='mean'))


def training_batch_size(opt):
    """The batch of one training iteration: ``train.total_batch``, else ``datasets.train.batch_size_per_gpu`` (the
    batch of one process), else 1."""
    per_process = ((opt.get('datasets') or {}).get('train') or {}).get('batch_size_per_gpu', 1)
    return opt['train'].get('total_batch') or per_process


def _standalone_options(opt, device):
    """``opt`` as BasicSR's parse_options would give it for one process on ``device``, without validation,
    experiment folders, pretrained or resumed networks."""
    opt = deepcopy(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0 if torch.device(device).type == 'cpu' else 1,
               auto_resume=False, val=None, datasets={})
    opt['path'] = {'pretrain_network_g': None, 'resume_state': None}
    return opt


def build_standalone_model(opt, pretrained_vgg=False, vgg_path=None, device='cpu'):
    """SRDDGANModel of train options, without validation, experiment folders, pretrained or resumed networks; the data
    sets are not built (the caller feeds the batches).

    Args:
        opt (dict): Train options as read from the YAML file (left unchanged).
        pretrained_vgg (bool): The content/style loss loads the VGG's ImageNet weights (``vgg_path``, else as
            ``ContentStyleLoss`` finds them); False: random weights (torchvision's initialisation). Default: False.
        vgg_path (str | None): VGG weight file, instead of ``content_style_opt.pretrained_path``. Default: None.
        device (str): 'cpu', or 'cuda' for the current CUDA device. Default: 'cpu'.

    Returns:
        SRDDGANModel: The model, its networks at initialisation.

    Raises:
        FileNotFoundError: ``pretrained_vgg`` and the VGG weights are neither found nor downloadable.
    """
    from basicsr.models import build_model

    opt = _standalone_options(opt, device)
    loss_opt = opt['train'].get('content_style_opt')
    if loss_opt:
        loss_opt['pretrained'] = pretrained_vgg
        if vgg_path is not None or not pretrained_vgg:
            loss_opt['pretrained_path'] = vgg_path
    return build_model(opt)


class RandomVGGPerceptualLoss(nn.Module):
    """ESRGAN's perceptual loss as BasicSR's ``PerceptualLoss`` computes it with ``train_ESRGAN_x4.yml``'s settings
    (L1 between the VGG-19 conv5_4 features of the output and of the HR, ImageNet-normalised input, weight 1, no style
    term), on random VGG weights: the same work without the download. Returns (perceptual loss, None)."""

    def __init__(self):
        super().__init__()
        self.vgg = VGGFeatures(['conv5_4'], 'vgg19', use_input_norm=True, range_norm=False)

    def forward(self, x, gt):
        return F.l1_loss(self.vgg(x)['conv5_4'], self.vgg(gt.detach())['conv5_4']), None


def build_baseline_model(network_g, gan, crop, device='cpu'):
    """BasicSR's ESRGAN (``ESRGANModel``: G, ``VGGStyleDiscriminator``, L1 + perceptual + relativistic GAN loss) or
    RRDB (``SRModel``, L1) model as BasicSR's option files train them, on random weights.

    Args:
        network_g (dict): The RRDBNet (``type`` and its arguments).
        gan (bool): ESRGAN's GAN training; False: the L1 training of the same network.
        crop (int): HR training crop, 128 or 256 (the sizes ``VGGStyleDiscriminator`` takes).
        device (str): 'cpu', or 'cuda' for the current CUDA device. Default: 'cpu'.

    Returns:
        SRModel: The model (BasicSR's ``ESRGANModel`` or ``SRModel``).
    """
    from basicsr.models import build_model

    opt = dict(name='esrgan' if gan else 'rrdb', model_type='ESRGANModel' if gan else 'SRModel', scale=4,
               network_g=deepcopy(network_g), train=deepcopy(ESRGAN_TRAIN if gan else RRDB_TRAIN))
    if gan:
        opt['network_d'] = dict(type='VGGStyleDiscriminator', num_in_ch=3, num_feat=64, input_size=crop)
    model = build_model(_standalone_options(opt, device))
    if gan:
        model.cri_perceptual = RandomVGGPerceptualLoss().to(model.device)
    return model


def iteration_mix(model):
    """The kinds of iteration in one period of the model's schedule, and their shares.

    SRDDGANModel applies R1 every ``lazy_reg`` iterations (when ``r1_gamma`` > 0) and steps G every
    ``d_steps_per_g_step``; BasicSR's models run every iteration alike.

    Args:
        model (BaseModel): A model built for training.

    Returns:
        dict[int, float]: ``current_iter`` of the first iteration of each kind -> its share of the iterations.
    """
    lazy_reg = model.lazy_reg if getattr(model, 'r1_gamma', 0) > 0 else 1
    g_every = getattr(model, 'd_steps_per_g_step', 1)
    period = math.lcm(lazy_reg, g_every)
    kinds = Counter((i % lazy_reg == 0, i % g_every == 0) for i in range(1, period + 1))
    first = {}
    for i in range(period, 0, -1):
        first[(i % lazy_reg == 0, i % g_every == 0)] = i
    return {first[kind]: count / period for kind, count in kinds.items()}


def iteration_cost(model, warmup=0, reps=0):
    """GFLOPs (and with ``reps`` the wall and CPU milliseconds) of one training iteration of ``model`` on the batch it
    was fed, averaged over the kinds of iteration of its schedule (``iteration_mix``: R1 amortised over ``lazy_reg``).
    Every call trains the model on that batch.

    Args:
        model (BaseModel): A model built for training, fed with a batch (``feed_data``).
        warmup (int): Untimed iterations of each kind before the timed ones. Default: 0.
        reps (int): Timed iterations of each kind; 0 counts the FLOPs only. Default: 0.

    Returns:
        dict: ``gflops``, and with ``reps`` ``ms`` and ``cpu_ms``, per iteration.
    """
    cost = dict(gflops=0.0, **(dict(ms=0.0, cpu_ms=0.0) if reps else {}))
    for current_iter, share in iteration_mix(model).items():
        iteration = partial(model.optimize_parameters, current_iter)
        cost['gflops'] += share * count_gflops(iteration)
        if reps:
            wall_ms, cpu_ms = time_ms(iteration, model.device, warmup, reps)
            cost['ms'] += share * wall_ms
            cost['cpu_ms'] += share * cpu_ms
    return cost
