"""GPU check in one command: training speed, sampling speed and a torchrun/NCCL run, written to one JSON file.

    python scripts/gpu_check.py                          # on a CUDA machine, under 6 minutes on one H100
    python scripts/gpu_check.py --device cpu --tiny      # the same parts on tiny networks, to test the script

Parts, each in its own process with a time limit, so that one that fails, runs out of memory or hangs is recorded
and the others still run:

- ``train``: the DIV2K x4 paper configuration (``options/train_SRDDGAN_DIV2K_x4.yml``) trained on random batches
  at the paper's batch (48) with bf16 autocast: iterations per second and peak memory. The VGG-19 of the content/style
  loss has random weights (the same work as the pretrained one; nothing is downloaded).
- ``sample``: T = 4 sampling of the paper generator, 32x32 -> 128x128, in batches, bf16 autocast, channels-last:
  images per second.
- ``ddp_train``: ``train`` again under ``torchrun --nproc_per_node=1`` with DistributedDataParallel (nccl on CUDA,
  gloo on CPU).
- ``sample_compiled``: ``sample`` with ``torch.compile`` (compile time reported apart), last, in the time left.

The JSON (``--output``, default ``results/gpu_check.json``) is rewritten after every part; it holds the device, the
versions, each part's status (ok, failed, timeout), numbers and seconds, and a summary against the targets (>= 1000
images/s sampling, >= 10 training iterations/s).
"""
import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from os import path as osp

import torch

import srddgan_arch  # noqa: F401  (before BasicSR: the compatibility fixes and the registrations)
from srddgan_arch.option_files import load_yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

TRAIN_OPT = osp.join(ROOT, 'options', 'train_SRDDGAN_DIV2K_x4.yml')
SAMPLE_OPT = osp.join(ROOT, 'options', 'test_SRDDGAN_DIV2K_x4.yml')
PARTS = ('train', 'sample', 'ddp_train', 'sample_compiled')
TARGETS = {'sample_img_per_s': 1000, 'train_it_per_s': 10}
# --tiny: the paper networks at a few channels, 32-px HR crops (one attention level), batches of 2
TINY_NETWORK_G = dict(image_size=32, num_feat=8, ch_mult=[1, 2], num_res_blocks=1, z_dim=8, num_mapping_layers=1,
                      encoder_num_feat=8, encoder_num_block=2, encoder_num_grow_ch=4)
TINY_NETWORK_D = dict(num_feat=8, image_size=32)


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'], help='Default: cuda.')
    parser.add_argument('--tiny', action='store_true', help='Tiny networks and batches (tests the script on a CPU).')
    parser.add_argument('--output', default=osp.join(ROOT, 'results', 'gpu_check.json'), help='The JSON file.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an --output of an earlier run.')
    parser.add_argument('--parts', default=','.join(PARTS), help=f'Comma-separated, from {", ".join(PARTS)}.')
    parser.add_argument('--budget', type=float, default=330, help='Seconds for all parts. Default: 330.')
    parser.add_argument('--train_iters', type=int, help='Timed training iterations. Default: 100 (--tiny: 2).')
    parser.add_argument('--sample_batch', type=int, help='Images per sampling batch. Default: 256 (--tiny: 2).')
    parser.add_argument('--sample_reps', type=int, help='Timed sampling batches. Default: 10 (--tiny: 1).')
    # the child processes' side: one part, its result to a file
    parser.add_argument('--run_part', choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = dict(train_iters=(2, 100), sample_batch=(2, 256), sample_reps=(1, 10))
    for key, (tiny, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, tiny if args.tiny else full)
    unknown = set(args.parts.split(',')) - set(PARTS)
    if unknown:
        parser.error(f'--parts: unknown {sorted(unknown)}; expected some of {", ".join(PARTS)}.')
    return args


def device_problem(device):
    """Why the parts cannot run on ``device`` (a sentence), or None."""
    if device == 'cpu':
        return None
    if not torch.cuda.is_available():
        return 'CUDA is not available (torch.cuda.is_available() is False): run on a GPU machine or pass --device cpu.'
    if not torch.cuda.is_bf16_supported():
        return f'{torch.cuda.get_device_name()} does not support bf16, which the check measures.'
    return None


def _synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def _reset_peak_memory(device):
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib(device):
    """Peak memory of this process in GiB: allocated CUDA memory, or the CPU's peak resident set."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def train_options(args, workdir, world_size, rank):
    """The DIV2K x4 paper training options for ``build_model``: bf16 autocast, random VGG weights, no data sets.

    Args:
        args (Namespace): The command-line arguments (device, tiny).
        workdir (str): Folder for the model's output paths.
        world_size (int): Number of processes; 1 without torchrun.
        rank (int): This process's rank.

    Returns:
        dict: Options as BasicSR's ``parse_options`` returns them.
    """
    opt = load_yaml(TRAIN_OPT)
    opt.update(is_train=True, dist=world_size > 1 or 'LOCAL_RANK' in os.environ, rank=rank, world_size=world_size,
               num_gpu=int(args.device == 'cuda'), datasets={}, val=None)
    opt['path'].update({key: osp.join(workdir, key) for key in ('models', 'training_states', 'visualization')})
    opt['train'].update(use_amp=True, amp_dtype='bfloat16', scheduler=None)
    opt['train']['content_style_opt'].update(pretrained=False)
    if args.tiny:
        opt['network_g'].update(TINY_NETWORK_G)
        opt['network_d'].update(TINY_NETWORK_D)
        opt['train']['total_batch'] = 2
    return opt


def run_train(args, device):
    """Train on random batches: ``train_iters`` timed iterations after 3 warm-up ones; returns the numbers."""
    from basicsr.models import build_model

    world_size = int(os.environ.get('WORLD_SIZE', 1))
    rank = int(os.environ.get('RANK', 0))
    if 'LOCAL_RANK' in os.environ:
        from srddgan_arch.compat import init_dist
        init_dist('pytorch', backend='nccl' if device.type == 'cuda' else 'gloo')
    with tempfile.TemporaryDirectory() as workdir:
        opt = train_options(args, workdir, world_size, rank)
        model = build_model(opt)
        batch = opt['train']['total_batch'] // world_size
        hr_size = opt['network_g']['image_size']
        lr_size = hr_size // opt['scale']
        model.feed_data({'lq': torch.rand(batch, 3, lr_size, lr_size), 'gt': torch.rand(batch, 3, hr_size, hr_size)})
        for current_iter in range(1, 4):
            model.optimize_parameters(current_iter)
        _synchronize(device)
        _reset_peak_memory(device)
        start = time.perf_counter()
        for current_iter in range(4, 4 + args.train_iters):
            model.optimize_parameters(current_iter)
        _synchronize(device)
        seconds = time.perf_counter() - start
    return dict(it_per_s=args.train_iters / seconds, iters=args.train_iters, batch_per_process=batch,
                world_size=world_size, amp=str(model.amp_dtype) if model.use_amp else 'float32 (no autocast on CPU)',
                backend=torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
                peak_memory_gib=peak_memory_gib(device), nonfinite_skipped=model.get_current_log()['nonfinite_skipped'])


def run_sample(args, device, compile_network):
    """T-step sampling at 32 -> 128 (--tiny: 8 -> 32) in batches with bf16 autocast and channels-last."""
    from srddgan_arch.inference.loading import load_option_file
    from srddgan_arch.inference.upsampler import build_upsampler

    opt = load_option_file(SAMPLE_OPT).network_g
    if args.tiny:
        opt.update(TINY_NETWORK_G)
    upsampler = build_upsampler(opt, precision='bf16', device=device, channels_last=True, compile=compile_network)
    lr_size = opt['image_size'] // upsampler.scale
    lq = torch.rand(args.sample_batch, 3, lr_size, lr_size)
    start = time.perf_counter()
    upsampler.upsample_tensor(lq, seed=0)  # warm-up: cuDNN autotuning, the compilation
    _synchronize(device)
    first_call = time.perf_counter() - start
    _reset_peak_memory(device)
    start = time.perf_counter()
    for rep in range(args.sample_reps):
        upsampler.upsample_tensor(lq, seed=rep)
    _synchronize(device)
    seconds = time.perf_counter() - start
    return dict(img_per_s=args.sample_reps * args.sample_batch / seconds, batch=args.sample_batch,
                reps=args.sample_reps, steps=upsampler.schedule.num_timesteps, lr_size=lr_size,
                hr_size=lr_size * upsampler.scale, precision='bf16', channels_last=True, compile=compile_network,
                first_call_s=first_call, peak_memory_gib=peak_memory_gib(device))


def run_part_here(args):
    """The child process's side: run ``args.run_part`` and write its numbers (or the error) to ``args.result``."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    try:
        if args.run_part in ('train', 'ddp_train'):
            result = run_train(args, device)
        else:
            result = run_sample(args, device, compile_network=args.run_part == 'sample_compiled')
        result['status'] = 'ok'
    except Exception as error:  # recorded in the JSON; the parent goes on with the next part
        result = dict(status='failed', error=f'{type(error).__name__}: {error}', traceback=traceback.format_exc())
    if int(os.environ.get('RANK', 0)) == 0:
        with open(args.result, 'w') as f:
            json.dump(result, f)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0 if result['status'] == 'ok' else 1


def part_command(name, args, result_path):
    """The command line of one part's process (torchrun for ``ddp_train``)."""
    script = [osp.abspath(__file__), '--run_part', name, '--result', result_path, '--device', args.device,
              '--train_iters', str(args.train_iters), '--sample_batch', str(args.sample_batch),
              '--sample_reps', str(args.sample_reps)] + (['--tiny'] if args.tiny else [])
    if name == 'ddp_train':
        return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1', *script]
    return [sys.executable, *script]


def run_part(name, args, timeout):
    """Run one part in its own process group within ``timeout`` seconds; returns its result dict, always with
    ``status`` (ok, failed, timeout) and ``seconds`` (wall time of the whole process, start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = osp.join(tmp, 'result.json')
        start = time.perf_counter()
        # a new session: on timeout the whole group goes, torchrun's workers too, and frees the device
        process = subprocess.Popen(part_command(name, args, result_path), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=ROOT, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return dict(status='timeout', error=f'stopped after {timeout:.0f} s', seconds=timeout,
                        log_tail=output[-2000:])
        seconds = time.perf_counter() - start
        if osp.isfile(result_path):
            with open(result_path) as f:
                result = json.load(f)
        else:
            result = dict(status='failed', error=f'the process exited with code {process.returncode} and no result')
        if result['status'] != 'ok':
            result['log_tail'] = output[-2000:]
    return dict(result, seconds=seconds)


def summary(parts):
    """Best sampling images/s, training iterations/s (single process and torchrun) against the targets."""
    sample = [p['img_per_s'] for name, p in parts.items() if name.startswith('sample') and p['status'] == 'ok']
    numbers = dict(sample_img_per_s=max(sample, default=None),
                   train_it_per_s=parts.get('train', {}).get('it_per_s'),
                   ddp_train_it_per_s=parts.get('ddp_train', {}).get('it_per_s'))
    meets = {key: numbers[key] is not None and numbers[key] >= target for key, target in TARGETS.items()}
    return dict(numbers, meets_targets=meets)


def write_report(report, path):
    """Write the JSON report atomically (a reader never sees half a file)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(report, f, indent=2)
    os.replace(path + '.tmp', path)


def main(argv=None):
    """Run the parts one after the other within the budget; returns the report (also written to ``--output``)."""
    args = parse_args(argv)
    if args.run_part:
        return run_part_here(args)
    if osp.lexists(args.output) and not args.overwrite:
        sys.exit(f'gpu_check: {args.output} holds an earlier report: give --overwrite to replace it.')
    start = time.perf_counter()
    report = dict(command=' '.join([osp.basename(__file__)] + (argv if argv is not None else sys.argv[1:])),
                  device=torch.cuda.get_device_name() if args.device == 'cuda' and torch.cuda.is_available()
                  else f'cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)',
                  torch=torch.__version__, cuda=torch.version.cuda, tiny=args.tiny, targets=TARGETS, parts={})
    problem = device_problem(args.device)
    if problem:
        report['error'] = problem
        write_report(report, args.output)
        sys.exit(f'gpu_check: {problem}')
    for name in (p for p in PARTS if p in args.parts.split(',')):
        left = args.budget - (time.perf_counter() - start)
        if left < 10:
            report['parts'][name] = dict(status='skipped', error='no time left in --budget')
        else:
            print(f'gpu_check: {name} (at most {left:.0f} s) ...', flush=True)
            report['parts'][name] = run_part(name, args, left)
        part = report['parts'][name]
        print(f'gpu_check: {name}: {part["status"]} ' + ', '.join(
            f'{key} {value:.3g}' if isinstance(value, float) else f'{key} {value}' for key, value in part.items()
            if key not in ('status', 'traceback', 'log_tail')), flush=True)
        report.update(summary=summary(report['parts']), total_seconds=time.perf_counter() - start)
        write_report(report, args.output)
    print(f'gpu_check: {json.dumps(report["summary"])}; written to {args.output}')
    return report


if __name__ == '__main__':
    main()
