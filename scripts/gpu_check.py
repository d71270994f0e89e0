"""GPU check in one command: training and sampling speed, memory, the choices only a GPU can decide, in one JSON file.

    python scripts/gpu_check.py                          # on a CUDA machine: within --budget (470 s) on one H100/H200
    python scripts/gpu_check.py --device cpu --tiny      # the same parts on tiny networks, to test the script

Parts, each in its own process (its own session) with a time cap, so that one that fails, runs out of memory or hangs
is killed and recorded, and the others still run:

- ``train_bf16``, ``train_fp32``, ``train_fp16``: the DIV2K x4 paper configuration (``options/train_SRDDGAN_DIV2K_x4
  .yml``) at its batch (48) with the config's ``train.use_amp`` / ``amp_dtype`` set for each precision, fed by a
  DataLoader from PNGs the part writes (the config's workers, pinned memory): iterations/s, the loader wait and the
  host-to-device copy per iteration, peak memory, skipped steps. ``train_fp16`` fails when GradScaler skipped more
  than ``FP16_ALLOWED_SKIPS`` steps (its first few find the scale). VGG-19 has random weights (nothing downloaded).
- ``sample_128``, ``sample_512``: T = 4 sampling 32 -> 128 and 128 -> 512 at batch 16 with the test options' schedule
  and LR projection (``options/test_SRDDGAN_DIV2K_x4.yml``), bf16 and fp32, NCHW and channels-last: images/s.
- ``upconv``: ``upsampled_conv3x3``'s transposed and plain forms on the paper generator's up-convolution shapes.
- ``ddp_train``: ``train_bf16`` under ``torchrun --nproc_per_node=2`` with NCCL when two GPUs are visible (gloo on
  the CPU); skipped with one GPU.
- ``sample_compiled``: ``sample_128`` (bf16, NCHW) with ``torch.compile``; its compile time is ``first_call_s``.

Peak memory is reported allocated (``peak_allocated_gib``) and reserved by the caching allocator
(``peak_reserved_gib``). The JSON (``--output``) is written atomically after every part. Its ``decisions`` name
what the figures decide, each from the keys given here:

- ``decisions.channels_last``: ``parts.sample_*.runs.bf16_channels_last.img_per_s`` over ``...bf16_nchw.img_per_s``
  (``ratio``); above 1.05 at both sizes: channels-last for CUDA (``--channels_last``), below 0.95: NCHW.
- ``decisions.sample_precision``: ``parts.sample_*.runs.bf16_nchw.img_per_s`` over ``fp32_nchw``; above 1.05: bf16
  as the default precision for sampling on CUDA.
- ``decisions.upconv_min_positions``: per mode, the smallest ``parts.upconv.entries[].positions`` from which
  ``faster`` is ``transposed`` at every larger size (None: plain everywhere): ``UPSAMPLED_CONV_MIN_POSITIONS['cuda']``
  in ``srddgan_arch/archs/layers.py``.
- ``decisions.fp16_trains``: ``parts.train_fp16.status`` ok with ``gradscaler_skips`` within ``FP16_ALLOWED_SKIPS``
  (None: fp16 autocast did not run);
  ``decisions.fastest_training``: the precision of the highest ``parts.train_*.it_per_s``;
  ``decisions.loader_share``: ``loader_wait_ms + h2d_copy_ms`` over the iteration's time, per training part (near 0:
  the GPU, not the data, sets the speed).
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from os import path as osp

import gpu_parts  # a script of this folder (Python puts a script's folder on sys.path)
import torch

import srddgan_arch  # noqa: F401  (before BasicSR: the compatibility fixes and the registrations)
from srddgan_arch.utils.training_state import atomic_write

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PARTS = ('train_bf16', 'train_fp32', 'train_fp16', 'sample_128', 'sample_512', 'upconv', 'ddp_train',
         'sample_compiled')
# seconds each part may take (start-up included); what they take on one H100/H200 fits the default --budget
CAPS = dict(train_bf16=75, train_fp32=90, train_fp16=75, sample_128=60, sample_512=90, upconv=45, ddp_train=90,
            sample_compiled=150)
TARGETS = {'sample_img_per_s': 1000, 'train_it_per_s': 10}


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'], help='Default: cuda.')
    parser.add_argument('--tiny', action='store_true', help='Tiny networks and batches (tests the script on a CPU).')
    parser.add_argument('--output', default=osp.join(ROOT, 'results', 'gpu_check.json'), help='The JSON file.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an --output of an earlier run.')
    parser.add_argument('--parts', default=','.join(PARTS), help=f'Comma-separated, from {", ".join(PARTS)}.')
    parser.add_argument('--budget', type=float, default=470, help='Seconds for all parts. Default: 470.')
    parser.add_argument('--train_iters', type=int, help='Timed training iterations. Default: 30 (--tiny: 2).')
    parser.add_argument('--sample_batch', type=int, help='Images per sampling batch. Default: 16 (--tiny: 2).')
    parser.add_argument('--sample_reps', type=int, help='Timed sampling batches. Default: 5 (--tiny: 1).')
    # the child processes' side: one part, its result to a file
    parser.add_argument('--run_part', choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = dict(train_iters=(2, 30), sample_batch=(2, 16), sample_reps=(1, 5))
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


def measure(args, device):
    """The child process's measurement of ``args.run_part``."""
    name, tiny = args.run_part, args.tiny
    if name.startswith('train_'):
        return gpu_parts.run_train(tiny, device, name.split('_')[1], args.train_iters)
    if name == 'ddp_train':
        return gpu_parts.run_train(tiny, device, 'bf16' if device.type == 'cuda' else 'fp32', args.train_iters)
    if name == 'upconv':
        return gpu_parts.run_upconv_ab(tiny, device, args.sample_batch, reps=3 if tiny else 10)
    lr_size = (8 if tiny else 32) if name != 'sample_512' else (16 if tiny else 128)
    return gpu_parts.run_sample(tiny, device, lr_size, args.sample_batch, args.sample_reps,
                                compile_network=name == 'sample_compiled')


def run_part_here(args):
    """The child process's side: run ``args.run_part`` and write its numbers (or the error) to ``args.result``."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    try:
        result = dict(measure(args, device), status='ok')
    except Exception as error:  # recorded in the JSON; the parent goes on with the next part
        result = dict(status='failed', error=f'{type(error).__name__}: {error}', traceback=traceback.format_exc())
    if int(os.environ.get('RANK', 0)) == 0:
        atomic_write(args.result, lambda f: f.write(json.dumps(result).encode()))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0 if result['status'] == 'ok' else 1


def part_command(name, args, result_path):
    """The command line of one part's process (torchrun with two processes for ``ddp_train``)."""
    script = [osp.abspath(__file__), '--run_part', name, '--result', result_path, '--device', args.device,
              '--train_iters', str(args.train_iters), '--sample_batch', str(args.sample_batch),
              '--sample_reps', str(args.sample_reps)] + (['--tiny'] if args.tiny else [])
    if name == 'ddp_train':
        return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', *script]
    return [sys.executable, *script]


def run_part(name, args, timeout):
    """Run one part in its own process group within ``timeout`` seconds; returns its result dict, always with
    ``status`` (ok, failed, timeout) and ``seconds`` (wall time of the whole process, start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = osp.join(tmp, 'result.json')
        start = time.perf_counter()
        # a new session: on timeout the whole group goes, torchrun's workers and loader workers too
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


def ratios(parts, numerator, denominator):
    """``runs[numerator].img_per_s / runs[denominator].img_per_s`` of each sampling part that ran."""
    return {name: part['runs'][numerator]['img_per_s'] / part['runs'][denominator]['img_per_s']
            for name, part in parts.items() if name in ('sample_128', 'sample_512') and part['status'] == 'ok'}


def choose(found, above, below):
    """``above`` when every ratio exceeds 1.05, ``below`` when every one is under 0.95, else undecided."""
    values = list(found.values())
    if values and min(values) > 1.05:
        return above
    if values and max(values) < 0.95:
        return below
    return None if not values else 'undecided (within 5 % or mixed)'


def fp16_trains(part):
    """True when the fp16 part trained (GradScaler on, few skips), False when it failed, None when it did not run
    fp16 (not run, or autocast off on this device)."""
    if part is None or part['status'] == 'skipped':
        return None
    return None if part['status'] == 'ok' and part.get('gradscaler_skips') is None else part['status'] == 'ok'


def decisions(parts):
    """What the figures decide, each with the figures it comes from (the module docstring names the keys)."""
    layout, precision = ratios(parts, 'bf16_channels_last', 'bf16_nchw'), ratios(parts, 'bf16_nchw', 'fp32_nchw')
    trained = {name: part for name, part in parts.items() if name.startswith('train_') and part['status'] == 'ok'}
    upconv = parts.get('upconv', {})
    return dict(
        channels_last=dict(ratio=layout, choice=choose(layout, 'channels_last', 'nchw')),
        sample_precision=dict(ratio=precision, choice=choose(precision, 'bf16', 'fp32')),
        upconv_min_positions={mode: gpu_parts.transposed_from(upconv['entries'], mode) for mode in
                              ('inference_bf16', 'training_fp32')} if upconv.get('status') == 'ok' else None,
        fp16_trains=fp16_trains(parts.get('train_fp16')),
        fastest_training=max(trained, key=lambda name: trained[name]['it_per_s'], default=None),
        loader_share={name: (part['loader_wait_ms'] + part['h2d_copy_ms']) * part['it_per_s'] / 1000
                      for name, part in trained.items()})


def summary(parts):
    """Best sampling images/s and training iterations/s (single process and torchrun) against the targets."""
    ran = {name: part for name, part in parts.items() if part['status'] == 'ok'}
    numbers = dict(sample_img_per_s=max((p['img_per_s'] for n, p in ran.items() if n.startswith('sample')),
                                        default=None),
                   train_it_per_s=max((p['it_per_s'] for n, p in ran.items() if n.startswith('train_')), default=None),
                   ddp_train_it_per_s=ran.get('ddp_train', {}).get('it_per_s'))
    meets = {key: numbers[key] is not None and numbers[key] >= target for key, target in TARGETS.items()}
    return dict(numbers, meets_targets=meets)


def write_report(report, path):
    """Write the JSON report atomically (a reader never sees half a file)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: f.write(json.dumps(report, indent=2).encode()))


def skip_reason(name, args, left):
    """Why part ``name`` does not run now, or None."""
    if left < 10:
        return 'no time left in --budget'
    if name == 'ddp_train' and args.device == 'cuda' and torch.cuda.device_count() < 2:
        return f'needs two GPUs, {torch.cuda.device_count()} visible'
    return None


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
        reason = skip_reason(name, args, left)
        if reason:
            report['parts'][name] = dict(status='skipped', error=reason)
        else:
            limit = left if args.tiny else min(left, CAPS[name])
            print(f'gpu_check: {name} (at most {limit:.0f} s) ...', flush=True)
            report['parts'][name] = run_part(name, args, limit)
        part = report['parts'][name]
        print(f'gpu_check: {name}: {part["status"]} ' + ', '.join(
            f'{key} {value:.3g}' if isinstance(value, float) else f'{key} {value}' for key, value in part.items()
            if key not in ('status', 'traceback', 'log_tail', 'runs', 'entries')), flush=True)
        report.update(summary=summary(report['parts']), decisions=decisions(report['parts']),
                      total_seconds=time.perf_counter() - start)
        write_report(report, args.output)
    print(f'gpu_check: {json.dumps(report["decisions"])}; written to {args.output}')
    return report


if __name__ == '__main__':
    main()
