"""Speed of SRDDGAN sampling (T = 1, 2, 4, 8) against ESRGAN's RRDBNet, in the same settings, on random weights.

    python scripts/benchmark_speed.py -opt options/test_SRDDGAN_DIV2K_x4.yml --device cpu

Times every model and setting (fp32, fp32 channels_last, bf16 autocast where the device supports it) in turn, in
``--reps`` rounds of ``--warmup`` untimed calls and one timed call each, and prints the mean and the fastest
ms/image, images/s, GFLOPs (``torch.utils.flop_counter.FlopCounterMode``) and achieved GFLOP/s (of the fastest call),
then the lines ``srddgan_T4_over_esrgan_mean: <ratio>`` and ``srddgan_T4_over_esrgan: <ratio>``: SRDDGAN's T = 4
time over ESRGAN's, each in its best fp32 setting, from the mean and from the fastest calls (the steadier figure on a
shared machine, whose load only ever adds time).

    python scripts/benchmark_speed.py -opt options/train_SRDDGAN_demo_x4.yml --device cpu --size_sweep

times instead the whole sample (all T steps, the option file's T) at LR sizes 32 to 256 with the settings
``srddgan-infer`` uses by default (tiles, precision, LR consistency), and ends with the line
``per_pixel_cost_growth: <ms per HR megapixel at the largest size / at the smallest>``.

    python scripts/benchmark_speed.py --train -opt options/train_SRDDGAN_DIV2K_x4.yml [--batch N] [--crop 128]

times instead one training iteration of the train option file (a D step and a G step, R1 amortised over
``lazy_reg``, the content/style loss on a random-weight VGG-19), ESRGAN's GAN iteration (BasicSR's ``ESRGANModel``:
RRDBNet 23 blocks, 64 features, ``VGGStyleDiscriminator``, perceptual loss on a random-weight VGG-19) and the same
RRDBNet's L1 iteration (BasicSR's ``SRModel``), at the same batch (default: 2 on the CPU, the option file's training
batch on a GPU) and HR crop (128 or 256: the sizes ``VGGStyleDiscriminator`` takes), random data. FLOPs of forward,
backward and R1's double backward come from ``FlopCounterMode``. It ends with ``srddgan_iter_over_esrgan_iter:
<ms ratio>`` and ``srddgan_train_gflops_share: <SRDDGAN's GFLOP/s over ESRGAN's>``.
"""
import argparse
import sys
from functools import partial
from os import path as osp

import torch

from srddgan_arch.cli_errors import run_main
from srddgan_arch.device import keep_freed_memory
from srddgan_arch.inference.loading import load_option_file
from srddgan_arch.inference.settings import RunSettings
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.option_files import load_yaml, option_file_argument
from srddgan_tools.cost import count_gflops, time_interleaved, time_ms
from srddgan_tools.standalone import (
    build_baseline_model,
    build_standalone_model,
    iteration_cost,
    training_batch_size,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# setting name -> (precision, channels_last)
SETTINGS = {'fp32': ('fp32', False), 'fp32_channels_last': ('fp32', True), 'bf16': ('bf16', True)}
# ESRGAN's RRDBNet as the baseline option file defines it
ESRGAN_OPT = osp.join(ROOT, 'options', 'test_ESRGAN_baseline_x4.yml')


def bf16_supported(device):
    """bf16 autocast is worth timing: CUDA with bf16 support, or a CPU with native bf16 (AVX512-BF16 / AMX)."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    if device.type == 'cpu':
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


def build_entries(name, opt, steps, lq, settings, args):
    """One network in every setting (random weights), ready to time: dicts of model, setting, call, GFLOPs/image.

    Args:
        name (str): Row label.
        opt (str | dict): Option file or ``network_g`` dict of the network, see ``build_upsampler``.
        steps (int | None): Diffusion steps T; None for plain networks.
        lq (Tensor): LR batch.
        settings (list[str]): Keys of ``SETTINGS``.
        args (Namespace): Command-line arguments (device, compile).

    Returns:
        list[dict]: One entry per setting; ``call`` upsamples ``lq`` once.
    """
    entries, gflops = [], None
    for setting in settings:
        precision, channels_last = SETTINGS[setting]
        upsampler = build_upsampler(opt, steps=steps, precision=precision, device=args.device,
                                    channels_last=channels_last, compile=args.compile)
        call = partial(upsampler.upsample_tensor, lq, seed=0)
        if gflops is None:
            gflops = count_gflops(call) / lq.shape[0]
        entries.append(dict(model=name, setting=setting, call=call, gflops=gflops))
    return entries


def compare(entries, lq, args):
    """Time the entries in turn (``time_interleaved``: every model and setting sees the same swings of the machine's
    load) and print a row per entry.

    Args:
        entries (list[dict]): From ``build_entries``; their ``call`` is taken out.
        lq (Tensor): The LR batch the calls upsample (per-image figures divide by its size).
        args (Namespace): Command-line arguments (device, warmup, reps).

    Returns:
        list[dict]: Rows (model, setting, ms and best_ms per image, cpu_ms, ips, gflops, gflops_s from best_ms).
    """
    print(f'{"model":<12} {"setting":<20} {"ms/image":>10} {"best ms":>9} {"images/s":>9} {"GFLOPs":>8} '
          f'{"GFLOP/s":>9} {"CPU ms":>10}')
    times = time_interleaved([entry.pop('call') for entry in entries], args.device, args.warmup, args.reps)
    rows = []
    for entry, measured in zip(entries, times, strict=True):
        ms, best_ms, cpu_ms = (measured[key] / lq.shape[0] for key in ('ms', 'best_ms', 'cpu_ms'))
        rows.append(dict(entry, ms=ms, best_ms=best_ms, cpu_ms=cpu_ms, ips=1000 / best_ms,
                         gflops_s=entry['gflops'] / best_ms * 1000))
        print(f'{entry["model"]:<12} {entry["setting"]:<20} {ms:10.1f} {best_ms:9.1f} {1000 / best_ms:9.2f} '
              f'{entry["gflops"]:8.1f} {rows[-1]["gflops_s"]:9.1f} {cpu_ms:10.1f}', flush=True)
    return rows


def size_sweep(args):
    """Time the whole sample at each LR size of ``args.sweep_sizes`` with the CLI's default settings.

    Args:
        args (Namespace): Command-line arguments (opt, device, sweep_sizes, batch, warmup, reps).

    Returns:
        tuple[list[dict], float]: Rows (lr_size, hr_size, ms per image, wall and CPU ms per HR megapixel) and the
        per-pixel (wall) cost at the largest size over that at the smallest.
    """
    settings = RunSettings(device=args.device)  # srddgan-infer's defaults
    upsampler = build_upsampler(args.opt, run=settings)
    steps = upsampler.schedule.num_timesteps if upsampler.diffusion else None
    print(f'size sweep: {args.opt}, T={steps}, device {args.device}, threads {torch.get_num_threads()}, '
          f'batch {args.batch}, warmup {args.warmup}, reps {args.reps}, CLI defaults {settings}')
    print(f'{"LR size":>8} {"HR size":>8} {"ms/image":>10} {"ms/HR MP":>10} {"CPU ms/HR MP":>13}')
    rows = []
    for size in (int(s) for s in args.sweep_sizes.split(',')):
        lq = torch.rand(args.batch, 3, size, size)
        sample_batch = partial(upsampler.upsample_tensor, lq, seed=0)
        ms, cpu_ms = (value / args.batch for value in time_ms(sample_batch, upsampler.device, args.warmup, args.reps))
        hr = size * upsampler.scale
        rows.append(dict(lr_size=size, hr_size=hr, ms=ms, ms_per_mp=ms / (hr * hr / 1e6),
                         cpu_ms_per_mp=cpu_ms / (hr * hr / 1e6)))
        print(f'{size:>8} {hr:>8} {ms:10.1f} {rows[-1]["ms_per_mp"]:10.1f} {rows[-1]["cpu_ms_per_mp"]:13.1f}',
              flush=True)
    print(f'per_pixel_cpu_cost_growth: {rows[-1]["cpu_ms_per_mp"] / rows[0]["cpu_ms_per_mp"]:.2f}')
    growth = rows[-1]['ms_per_mp'] / rows[0]['ms_per_mp']
    print(f'per_pixel_cost_growth: {growth:.2f}')
    return rows, growth


def train_benchmark(args):
    """Time and count one training iteration of SRDDGAN (``args.opt``), ESRGAN's GAN training and the same RRDBNet's
    L1 training at the same batch and HR crop.

    Args:
        args (Namespace): Command-line arguments (opt, device, batch, crop, warmup, reps, esrgan_*).

    Returns:
        tuple[list[dict], float, float]: Rows (model, ms, cpu_ms, gflops, gflops_s per iteration), SRDDGAN's time
        over ESRGAN's and SRDDGAN's GFLOP/s over ESRGAN's.
    """
    opt = load_yaml(args.opt) or {}
    if not isinstance(opt.get('train'), dict):
        raise ValueError(f'--train needs a train option file: {args.opt} has no train section.')
    batch = args.batch or (2 if args.device.type == 'cpu' else training_batch_size(opt))
    device = str(args.device)
    models = [('srddgan', build_standalone_model(opt, device=device), opt['scale']),
              ('esrgan_gan', build_baseline_model(esrgan_network(args, 4), True, args.crop, device), 4),
              ('rrdb_l1', build_baseline_model(esrgan_network(args, 4), False, args.crop, device), 4)]
    print(f'train: {osp.basename(args.opt)}, device {args.device}, threads {torch.get_num_threads()}, batch {batch}, '
          f'HR crop {args.crop}, warmup {args.warmup}, reps {args.reps}; R1 amortised over its iterations')
    print(f'{"model":<12} {"ms/iter":>10} {"GFLOPs/iter":>12} {"GFLOP/s":>9} {"CPU ms":>10}')
    rows = []
    for name, model, scale in models:
        lr_crop = args.crop // scale
        model.feed_data({'gt': torch.rand(batch, 3, args.crop, args.crop),
                         'lq': torch.rand(batch, 3, lr_crop, lr_crop)})
        cost = iteration_cost(model, args.warmup, max(args.reps, 1))
        rows.append(dict(cost, model=name, gflops_s=cost['gflops'] / cost['ms'] * 1000))
        print(f'{name:<12} {cost["ms"]:10.1f} {cost["gflops"]:12.1f} {rows[-1]["gflops_s"]:9.1f} '
              f'{cost["cpu_ms"]:10.1f}', flush=True)
    srddgan, esrgan = rows[0], rows[1]
    # a shared machine slows the wall time of every model differently; the CPU time of one thread less so
    cpu_share = srddgan['gflops'] / srddgan['cpu_ms'] / (esrgan['gflops'] / esrgan['cpu_ms'])
    print(f'srddgan_iter_over_esrgan_iter_cpu_time: {srddgan["cpu_ms"] / esrgan["cpu_ms"]:.2f}')
    print(f'srddgan_train_gflops_share_cpu_time: {cpu_share:.2f}')
    time_ratio, share = srddgan['ms'] / esrgan['ms'], srddgan['gflops_s'] / esrgan['gflops_s']
    print(f'srddgan_iter_over_esrgan_iter: {time_ratio:.2f}')
    print(f'srddgan_train_gflops_share: {share:.2f}')
    return rows, time_ratio, share


def esrgan_network(args, scale):
    """ESRGAN's RRDBNet (``network_g`` of the baseline option file, ``--esrgan_*`` overrides) at ``scale``."""
    network = dict(load_option_file(ESRGAN_OPT)[0], scale=scale)
    network.update({key: getattr(args, f'esrgan_{key}') for key in ('num_block', 'num_feat', 'num_grow_ch')
                    if getattr(args, f'esrgan_{key}') is not None})
    return network


def parse_args(argv=None):
    """Command-line arguments of the speed benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', '--opt', required=True, type=option_file_argument,
                        help='Option file with the SRDDGAN network_g.')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or mps. Default: cpu.')
    parser.add_argument('--lr_size', type=int, default=32, help='LR size (square). Default: 32 (-> 128 at x4).')
    parser.add_argument('--batch', type=int,
                        help='Batch size. Default: 1 (--train: 2 on the CPU, the training batch on a GPU).')
    parser.add_argument('--steps', default='1,2,4,8', help='SRDDGAN step counts T. Default: 1,2,4,8.')
    parser.add_argument('--settings', default='fp32,fp32_channels_last,bf16',
                        help=f'Comma-separated, from {", ".join(SETTINGS)}. Default: all (bf16 where supported).')
    parser.add_argument('--warmup', type=int, default=1, help='Untimed calls before each timed one. Default: 1.')
    parser.add_argument('--reps', type=int, default=4, help='Rounds (a timed call per model and setting). Default: 4.')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads. Default: torch default.')
    parser.add_argument('--compile', action='store_true', help='torch.compile the networks.')
    parser.add_argument('--size_sweep', action='store_true',
                        help='Time the whole sample at --sweep_sizes with the CLI defaults instead of the comparison.')
    parser.add_argument('--sweep_sizes', default='32,64,128,256', help='LR sizes of --size_sweep. Default: 32 to 256.')
    parser.add_argument('--train', action='store_true',
                        help='Time one training iteration of the train option file beside ESRGAN\'s instead.')
    parser.add_argument('--crop', type=int, default=128, choices=(128, 256), help='HR crop of --train. Default: 128.')
    for key, meaning in (('num_block', 'RRDB blocks'), ('num_feat', 'features'), ('num_grow_ch', 'growth channels')):
        parser.add_argument(f'--esrgan_{key}', type=int,
                            help=f'ESRGAN {meaning}. Default: {osp.relpath(ESRGAN_OPT, ROOT)}\'s value.')
    return parser.parse_args(argv)


def main(argv=None):
    """Run the benchmark; returns the rows and the SRDDGAN T=4 / ESRGAN time ratio (None without T = 4), with
    ``--size_sweep`` the sweep's rows and the per-pixel cost growth, with ``--train`` what ``train_benchmark``
    returns."""
    args = parse_args(argv)
    args.device = torch.device(args.device)
    if args.device.type == 'cpu':
        keep_freed_memory()  # as srddgan-infer does
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.train:
        return train_benchmark(args)
    args.batch = args.batch or 1
    if args.size_sweep:
        return size_sweep(args)
    scale = build_upsampler(args.opt, device='cpu').scale
    esrgan = esrgan_network(args, scale)
    settings = [s for s in args.settings.split(',') if s != 'bf16' or bf16_supported(args.device)]
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f'--settings: unknown {sorted(unknown)}; expected some of {list(SETTINGS)}.')
    lq = torch.rand(args.batch, 3, args.lr_size, args.lr_size)
    hr = args.lr_size * scale
    print(f'device {args.device}, threads {torch.get_num_threads()}, batch {args.batch}, '
          f'{args.lr_size}x{args.lr_size} -> {hr}x{hr}, warmup {args.warmup}, reps {args.reps} (interleaved)')
    entries = build_entries('esrgan', esrgan, None, lq, settings, args)
    for steps in (int(s) for s in args.steps.split(',')):
        entries += build_entries(f'srddgan_T{steps}', args.opt, steps, lq, settings, args)
    rows = compare(entries, lq, args)
    ratio = None
    if any(row['model'] == 'srddgan_T4' for row in rows):
        def best(model, key):
            return min(row[key] for row in rows if row['model'] == model and row['setting'].startswith('fp32'))
        print(f'srddgan_T4_over_esrgan_mean: {best("srddgan_T4", "ms") / best("esrgan", "ms"):.2f}')
        ratio = best('srddgan_T4', 'best_ms') / best('esrgan', 'best_ms')
        print(f'srddgan_T4_over_esrgan: {ratio:.2f}')
    return rows, ratio


if __name__ == '__main__':
    sys.exit(run_main(main, 'benchmark_speed.py'))
