"""The measurements of ``gpu_check.py``, one function per kind of part: training from a folder of PNGs, sampling with
the test options' LR projection, and the A/B of the up-convolution's two forms. Each returns a dict of figures."""
import dataclasses
import math
import os
import resource
import tempfile
import time
from os import path as osp

import cv2
import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN_OPT = osp.join(ROOT, 'options', 'train_SRDDGAN_DIV2K_x4.yml')
SAMPLE_OPT = osp.join(ROOT, 'options', 'test_SRDDGAN_DIV2K_x4.yml')
# --tiny: the paper networks at a few channels, 32-px HR crops (one attention level), batches of 2
TINY_NETWORK_G = dict(image_size=32, num_feat=8, ch_mult=[1, 2], num_res_blocks=1, z_dim=8, num_mapping_layers=1,
                      encoder_num_feat=8, encoder_num_block=2, encoder_num_grow_ch=4)
TINY_NETWORK_D = dict(num_feat=8, image_size=32)
# GradScaler starts at 2 ** 16 and halves its scale at every skipped step: an fp16 run may skip this many steps per
# scaler while it finds its scale, no more
FP16_ALLOWED_SKIPS = 8
# (input side, channels) of the paper generator's up convolutions at 128 px HR (4..64) and at 512 px (to 256)
UPCONV_SHAPES = ((4, 256), (8, 256), (16, 128), (32, 128), (64, 64), (128, 64), (256, 64))
TINY_UPCONV_SHAPES = ((4, 8), (8, 8), (16, 8), (32, 8))


def synchronize(device):
    """Wait for the device's queued work (CUDA), so that wall times cover it."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def reset_peak_memory(device):
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device):
    """Peak CUDA memory since the last reset, allocated (tensors) and reserved (the caching allocator's, what other
    processes cannot use), in GiB; on the CPU the process's peak resident set."""
    if device.type == 'cuda':
        return dict(peak_allocated_gib=torch.cuda.max_memory_allocated(device) / 2**30,
                    peak_reserved_gib=torch.cuda.max_memory_reserved(device) / 2**30)
    return dict(peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)


def write_pngs(folder, count, hr_size, scale, seed=0):
    """``count`` smooth random HR images (PNG) of ``hr_size`` px and their x``scale`` area-downscaled LR images, in
    ``folder``/HR and ``folder``/LR (PairedImageDataset's layout); returns the two folders."""
    rng = np.random.default_rng(seed)
    folders = [osp.join(folder, name) for name in ('HR', 'LR')]
    for name in folders:
        os.makedirs(name, exist_ok=True)
    for index in range(count):
        coarse = rng.integers(0, 256, (hr_size // 8, hr_size // 8, 3), dtype=np.uint8)
        hr = cv2.resize(coarse, (hr_size, hr_size), interpolation=cv2.INTER_CUBIC)
        lr = cv2.resize(hr, (hr_size // scale, hr_size // scale), interpolation=cv2.INTER_AREA)
        for name, img in zip(folders, (hr, lr), strict=True):
            cv2.imwrite(osp.join(name, f'{index:04d}.png'), img)
    return folders


def train_options(tiny, device, workdir, precision, world_size, rank):
    """The DIV2K x4 paper training options for ``build_model`` with ``precision`` (fp32, bf16, fp16: the config's
    ``train.use_amp`` / ``amp_dtype``), random VGG weights, the data set opt apart (returned second)."""
    from srddgan_arch.option_files import load_yaml

    opt = load_yaml(TRAIN_OPT)
    dataset = dict(opt['datasets']['train'], phase='train', scale=opt['scale'])
    opt.update(is_train=True, dist=world_size > 1, rank=rank, world_size=world_size,
               num_gpu=int(device.type == 'cuda'), datasets={}, val=None)
    opt['path'].update({key: osp.join(workdir, key) for key in ('models', 'training_states', 'visualization')})
    opt['train'].update(use_amp=precision != 'fp32', amp_dtype=dict(bf16='bfloat16', fp16='float16').get(precision,
                                                                                                       'bfloat16'))
    opt['train'].update(scheduler=None)
    opt['train']['content_style_opt'].update(pretrained=False)
    if tiny:
        opt['network_g'].update(TINY_NETWORK_G)
        opt['network_d'].update(TINY_NETWORK_D)
        opt['train']['total_batch'] = 2
        dataset.update(gt_size=TINY_NETWORK_G['image_size'], num_worker_per_gpu=0)
    return opt, dataset


def data_loader(dataset_opt, folder, batch, device, world_size, rank):
    """A shuffling loader of the PairedImageDataset on PNGs written to ``folder`` (4 batches) at the crop size, the
    size of ``prepare_div2k.py``'s sub-images (its ``--crop-size`` default), with the config's workers, pinned memory
    on CUDA, one shard per rank."""
    from basicsr.data import build_dataset

    hr_size = dataset_opt['gt_size']
    dataset_opt['dataroot_gt'], dataset_opt['dataroot_lq'] = write_pngs(folder, 4 * batch * world_size, hr_size,
                                                                         dataset_opt['scale'])
    dataset = build_dataset(dataset_opt)
    workers = min(dataset_opt['num_worker_per_gpu'], (os.cpu_count() or 1) // world_size)
    sampler = torch.utils.data.DistributedSampler(dataset, world_size, rank) if world_size > 1 else None
    return torch.utils.data.DataLoader(dataset, batch, shuffle=sampler is None, sampler=sampler, drop_last=True,
                                       num_workers=workers, persistent_workers=workers > 0,
                                       pin_memory=device.type == 'cuda')


def batches(loader):
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def gradscaler_skips(model):
    """Steps GradScaler skipped in this run (its scale halves at each; 2000 good steps would double it), or None
    without a scaler (no fp16 autocast)."""
    scalers = [model.scaler_g, model.scaler_d]
    if not any(scaler.is_enabled() for scaler in scalers):
        return None
    return sum(round(math.log2(2.0**16 / scaler.get_scale())) for scaler in scalers if scaler.is_enabled())


def run_train(tiny, device, precision, iters):
    """Train on PNGs through a DataLoader: ``iters`` timed iterations after 3 warm-up ones; per iteration the wait
    for the loader and the host-to-device copy (``feed_data``, synchronised) are timed apart."""
    from basicsr.models import build_model

    world_size, rank = int(os.environ.get('WORLD_SIZE', 1)), int(os.environ.get('RANK', 0))
    if 'LOCAL_RANK' in os.environ:
        from srddgan_arch.compat import init_dist
        init_dist('pytorch', backend='nccl' if device.type == 'cuda' else 'gloo')
    with tempfile.TemporaryDirectory() as workdir:
        opt, dataset_opt = train_options(tiny, device, workdir, precision, world_size, rank)
        model = build_model(opt)
        loader = batches(data_loader(dataset_opt, osp.join(workdir, 'data'), opt['train']['total_batch'] // world_size,
                                     device, world_size, rank))
        waits, copies = [], []
        for current_iter in range(1, 4 + iters):
            if current_iter == 4:
                synchronize(device)
                reset_peak_memory(device)
                start = time.perf_counter()
            fetched = time.perf_counter()
            data = next(loader)
            copied = time.perf_counter()
            model.feed_data(data)
            synchronize(device)
            waits.append(copied - fetched)
            copies.append(time.perf_counter() - copied)
            model.optimize_parameters(current_iter)
        synchronize(device)
        seconds = time.perf_counter() - start
    result = dict(it_per_s=iters / seconds, iters=iters, batch_per_process=opt['train']['total_batch'] // world_size,
                  world_size=world_size, precision=precision, autocast=str(model.amp_dtype) if model.use_amp else None,
                  backend=torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
                  loader_wait_ms=1000 * float(np.mean(waits[3:])), h2d_copy_ms=1000 * float(np.mean(copies[3:])),
                  loader_workers=dataset_opt['num_worker_per_gpu'], pin_memory=device.type == 'cuda',
                  nonfinite_skipped=int(model.get_current_log()['nonfinite_skipped']),
                  gradscaler_skips=gradscaler_skips(model), **peak_memory(device))
    if result['gradscaler_skips'] is not None and result['gradscaler_skips'] > FP16_ALLOWED_SKIPS:
        raise RuntimeError(f'fp16 does not train: GradScaler skipped {result["gradscaler_skips"]} steps in '
                           f'{iters + 3} iterations (at most {FP16_ALLOWED_SKIPS} allowed while it finds its scale).')
    return result


def run_sample(tiny, device, lr_size, batch, reps, compile_network=False):
    """T-step sampling of LR ``lr_size`` px images in batches, with the test options' schedule and LR projection,
    for bf16 and fp32, NCHW and channels-last (compiled: bf16 NCHW only, compile time apart): images per second."""
    from srddgan_arch.diffusion import DiffusionSchedule
    from srddgan_arch.inference.loading import build_network, load_option_file
    from srddgan_arch.inference.upsampler import SRDDGANer

    option_file = load_option_file(SAMPLE_OPT)
    network_g = dict(option_file.network_g, **(TINY_NETWORK_G if tiny else {}))
    net = build_network(network_g)
    schedule = DiffusionSchedule(**dataclasses.asdict(option_file.diffusion))
    lq = torch.rand(batch, 3, lr_size, lr_size)
    settings = [('bf16', False)] if compile_network else [(p, c) for p in ('bf16', 'fp32') for c in (False, True)]
    runs = {}
    for precision, channels_last in settings:
        upsampler = SRDDGANer(net, schedule=schedule, lr_consistency=option_file.lr_consistency, device=str(device),
                              precision=precision, channels_last=channels_last, compile=compile_network, tile=0)
        start = time.perf_counter()
        upsampler.upsample_tensor(lq, seed=0)  # warm-up: cuDNN autotuning, the compilation
        synchronize(device)
        first_call = time.perf_counter() - start
        reset_peak_memory(device)
        start = time.perf_counter()
        for rep in range(reps):
            upsampler.upsample_tensor(lq, seed=rep + 1)
        synchronize(device)
        runs[f'{precision}_{"channels_last" if channels_last else "nchw"}'] = dict(
            img_per_s=reps * batch / (time.perf_counter() - start), first_call_s=first_call, **peak_memory(device))
    return dict(runs=runs, batch=batch, reps=reps, steps=schedule.num_timesteps, lr_size=lr_size,
                hr_size=lr_size * net.scale, lr_consistency=dataclasses.asdict(option_file.lr_consistency),
                compile=compile_network, img_per_s=max(run['img_per_s'] for run in runs.values()))


def upconv_call(x, weight, mode):
    """One call of ``upsampled_conv3x3`` in ``mode``: inference (bf16 autocast, no_grad) or training (fp32, forward
    and backward)."""
    from srddgan_arch.archs.layers import upsampled_conv3x3

    if mode == 'training_fp32':
        return lambda: upsampled_conv3x3(x, weight).sum().backward()
    return torch.no_grad()(torch.autocast(x.device.type, torch.bfloat16)(lambda: upsampled_conv3x3(x, weight)))


def run_upconv_ab(tiny, device, batch, reps):
    """``upsampled_conv3x3``'s transposed and plain forms timed on the paper generator's up-convolution shapes, in
    inference (bf16 autocast, no_grad) and training (fp32, forward and backward); each entry says which is faster."""
    from srddgan_arch.archs import layers
    from srddgan_tools.cost import time_ms

    entries = []
    for side, channels in TINY_UPCONV_SHAPES if tiny else UPCONV_SHAPES:
        x = torch.randn(batch, channels, side, side, device=device)
        weight = torch.randn(channels, channels, 3, 3, device=device, requires_grad=True)
        for mode in ('inference_bf16', 'training_fp32'):
            times = {}
            for form, threshold in (('transposed', 0), ('plain', math.inf)):
                layers.UPSAMPLED_CONV_MIN_POSITIONS[device.type] = threshold
                times[form] = time_ms(upconv_call(x, weight, mode), device, warmup=2, reps=reps)[0]
            entries.append(dict(mode=mode, positions=batch * side * side, side=side, channels=channels,
                                transposed_ms=times['transposed'], plain_ms=times['plain'],
                                faster=min(times, key=times.get)))
    return dict(batch=batch, entries=entries)


def transposed_from(entries, mode):
    """The smallest input positions (batch x H x W) from which the transposed form is faster at every measured size
    of ``mode``, or None when it is slower at the largest: the ``UPSAMPLED_CONV_MIN_POSITIONS`` the figures support."""
    threshold = None
    for entry in sorted((e for e in entries if e['mode'] == mode), key=lambda e: -e['positions']):
        if entry['faster'] != 'transposed':
            break
        threshold = entry['positions']
    return threshold
