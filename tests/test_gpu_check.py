"""scripts/gpu_check.py: its parts on tiny networks on the CPU, its time guard and its refusal without CUDA."""
import json

import pytest
import torch
from test_benchmarks import load_script


@pytest.mark.slow
def test_tiny_cpu_run_writes_every_part(tmp_path):
    """--device cpu --tiny runs every part (training, sampling, torchrun with gloo, compiled sampling) in its own
    process and writes one JSON with their numbers and the summary against the targets."""
    output = tmp_path / 'gpu_check.json'
    load_script('gpu_check').main(['--device', 'cpu', '--tiny', '--output', str(output), '--budget', '900'])
    report = json.loads(output.read_text())
    parts = report['parts']
    assert {name: part['status'] for name, part in parts.items()} == dict.fromkeys(
        ('train', 'sample', 'ddp_train', 'sample_compiled'), 'ok'), {n: p.get('log_tail') for n, p in parts.items()}
    assert parts['train']['it_per_s'] > 0 and parts['train']['batch_per_process'] == 2
    assert parts['ddp_train']['backend'] == 'gloo' and parts['ddp_train']['world_size'] == 1
    assert parts['sample']['hr_size'] == 32 and parts['sample']['steps'] == 4 and parts['sample_compiled']['compile']
    assert report['summary']['sample_img_per_s'] == max(parts['sample']['img_per_s'],
                                                        parts['sample_compiled']['img_per_s'])
    assert report['summary']['meets_targets'] == {'sample_img_per_s': False, 'train_it_per_s': False}


def test_a_part_past_its_time_is_stopped_and_recorded(tmp_path):
    """A part that outlives its time limit is killed with its process group and recorded as a timeout."""
    script = load_script('gpu_check')
    args = script.parse_args(['--device', 'cpu', '--tiny', '--output', str(tmp_path / 'r.json')])
    result = script.run_part('sample', args, timeout=0.5)
    assert result['status'] == 'timeout' and result['seconds'] == 0.5


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
