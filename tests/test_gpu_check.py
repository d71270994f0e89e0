"""scripts/gpu_check.py: its parts on tiny networks on the CPU, its time guard, the decisions it reads from its figures
and its refusal without CUDA."""
import json

import pytest
import torch
from test_benchmarks import load_script


@pytest.mark.slow
def test_tiny_cpu_run_writes_every_part(tmp_path):
    """--device cpu --tiny runs every part (training in three precisions from PNGs through a DataLoader, sampling at
    two sizes with the LR projection in both layouts and precisions, the up-convolution A/B, two gloo ranks, compiled
    sampling) in its own process and writes one JSON with their figures, the summary and the decisions."""
    output = tmp_path / 'gpu_check.json'
    script = load_script('gpu_check')
    script.main(['--device', 'cpu', '--tiny', '--output', str(output), '--budget', '900'])
    report = json.loads(output.read_text())
    parts = report['parts']
    assert {name: part['status'] for name, part in parts.items()} == dict.fromkeys(script.PARTS, 'ok'), {
        name: part.get('log_tail') for name, part in parts.items()}
    for precision in ('fp32', 'bf16', 'fp16'):
        train = parts[f'train_{precision}']
        assert train['it_per_s'] > 0 and train['batch_per_process'] == 2 and train['precision'] == precision
        assert train['loader_wait_ms'] >= 0 and train['h2d_copy_ms'] >= 0 and train['peak_rss_gib'] > 0
    assert parts['ddp_train']['backend'] == 'gloo' and parts['ddp_train']['world_size'] == 2
    for name, hr_size in (('sample_128', 32), ('sample_512', 64)):
        assert parts[name]['hr_size'] == hr_size and parts[name]['steps'] == 4
        assert parts[name]['lr_consistency']['downsampler'] == 'bicubic'
        assert set(parts[name]['runs']) == {'bf16_nchw', 'bf16_channels_last', 'fp32_nchw', 'fp32_channels_last'}
    assert parts['sample_compiled']['compile'] and parts['sample_compiled']['runs']['bf16_nchw']['first_call_s'] > 0
    assert {entry['faster'] for entry in parts['upconv']['entries']} <= {'transposed', 'plain'}
    assert set(report['decisions']['channels_last']['ratio']) == {'sample_128', 'sample_512'}
    # fp16 autocast runs on the CPU only where the model enables it there (else the part trains in fp32: None)
    assert report['decisions']['fp16_trains'] is (None if parts['train_fp16']['gradscaler_skips'] is None else True)
    assert set(report['decisions']['loader_share']) == {'train_fp32', 'train_bf16', 'train_fp16'}
    assert report['summary']['meets_targets'] == {'sample_img_per_s': False, 'train_it_per_s': False}


def test_a_part_past_its_time_is_stopped_and_recorded(tmp_path):
    """A part that outlives its time limit is killed with its process group and recorded as a timeout."""
    script = load_script('gpu_check')
    args = script.parse_args(['--device', 'cpu', '--tiny', '--output', str(tmp_path / 'r.json')])
    result = script.run_part('sample_128', args, timeout=0.5)
    assert result['status'] == 'timeout' and result['seconds'] == 0.5


def _sampling(nchw, channels_last, fp32):
    runs = dict(bf16_nchw=nchw, bf16_channels_last=channels_last, fp32_nchw=fp32, fp32_channels_last=fp32)
    return dict(status='ok', runs={name: dict(img_per_s=value) for name, value in runs.items()})


def test_decisions_read_the_figures_by_name():
    """The decisions come from the named figures: layout and sampling precision from the img/s ratios (5 % margin),
    the transposed-convolution threshold from the smallest size from which it wins at every larger one, fp16 from its
    part's status, the loader's share of an iteration."""
    script = load_script('gpu_check')
    entries = [dict(mode='inference_bf16', positions=positions, faster=faster)
               for positions, faster in ((16, 'transposed'), (64, 'plain'), (256, 'transposed'), (1024, 'transposed'))]
    parts = dict(sample_128=_sampling(100, 120, 50), sample_512=_sampling(10, 11, 5),
                 upconv=dict(status='ok', entries=entries),
                 train_fp16=dict(status='failed'),
                 train_bf16=dict(status='ok', it_per_s=4, loader_wait_ms=10, h2d_copy_ms=15))
    decided = script.decisions(parts)
    assert decided['channels_last']['choice'] == 'channels_last' and decided['sample_precision']['choice'] == 'bf16'
    assert decided['upconv_min_positions'] == {'inference_bf16': 256, 'training_fp32': None}
    assert decided['fp16_trains'] is False and decided['fastest_training'] == 'train_bf16'
    assert script.fp16_trains(dict(status='ok', gradscaler_skips=2)) and script.fp16_trains(
        dict(status='ok', gradscaler_skips=None)) is None
    assert decided['loader_share'] == {'train_bf16': pytest.approx(0.1)}
    parts['sample_512'] = _sampling(10, 9, 5)
    assert script.decisions(parts)['channels_last']['choice'].startswith('undecided')


def test_gradscaler_skips_and_the_two_gpu_part(monkeypatch):
    """Skipped fp16 steps are read from the scalers' scales (halved at each skip; None without fp16); the 2-rank DDP
    part is skipped on CUDA with fewer than two GPUs."""
    script = load_script('gpu_check')
    parts = load_script('gpu_parts')

    class Model:
        scaler_g = torch.amp.GradScaler('cpu', init_scale=2.0**13)
        scaler_d = torch.amp.GradScaler('cpu', init_scale=2.0**15)

    assert parts.gradscaler_skips(Model()) == 4
    Model.scaler_g = Model.scaler_d = torch.amp.GradScaler('cpu', enabled=False)
    assert parts.gradscaler_skips(Model()) is None
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    args = script.parse_args(['--device', 'cuda'])
    assert script.skip_reason('ddp_train', args, left=100) == 'needs two GPUs, 1 visible'
    assert script.skip_reason('train_bf16', args, left=100) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the refusal on a machine without CUDA')
def test_without_cuda_it_stops_at_once_with_the_reason(tmp_path):
    """On a machine without CUDA the default (GPU) run stops before any part, saying why, in the JSON too."""
    output = tmp_path / 'gpu_check.json'
    with pytest.raises(SystemExit, match='CUDA is not available'):
        load_script('gpu_check').main(['--output', str(output)])
    report = json.loads(output.read_text())
    assert 'CUDA is not available' in report['error'] and report['parts'] == {}
    with pytest.raises(SystemExit, match='holds an earlier report: give --overwrite'):  # kept unless told
        load_script('gpu_check').main(['--output', str(output)])
    with pytest.raises(SystemExit, match='CUDA is not available'):
        load_script('gpu_check').main(['--output', str(output), '--overwrite'])
