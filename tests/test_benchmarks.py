"""Tests of the speed and quality benchmark scripts and of the FID/IS path, on tiny networks and images."""

import time

import cv2
import numpy as np
import pytest
import torch
import torchvision
import yaml
from conftest import load_script
from conftest import tiny_srddgan_options as tiny_opt

from srddgan_arch.data.image_io import to_uint8
from srddgan_arch.inference.loading import build_network
from srddgan_arch.metrics.fid_is import INCEPTION_FILE, build_inception, calculate_fid_is
from srddgan_tools.cost import count_gflops, time_interleaved
from srddgan_tools.standalone import build_standalone_model, iteration_cost, iteration_mix, training_batch_size

TINY_SRDDGAN = dict(type='SRDDGANUNet', scale=4, image_size=32, num_feat=8, ch_mult=[1, 2], num_res_blocks=1,
                    attn_resolutions=[16], z_dim=4, num_mapping_layers=1, lr_encoder=True, encoder_num_feat=4,
                    encoder_num_block=2, encoder_num_grow_ch=4)
TINY_RRDB = dict(type='RRDBNet', num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4)


@pytest.fixture
def tiny_models(tmp_path):
    """Option files and random weights of a tiny SRDDGAN (T = 2) and a tiny RRDBNet."""
    paths = {}
    models = (('srddgan', TINY_SRDDGAN, {'diffusion': {'num_timesteps': 2}}), ('rrdb', TINY_RRDB, {}))
    for name, net_opt, extra in models:
        (tmp_path / f'{name}.yml').write_text(yaml.safe_dump(dict(extra, network_g=net_opt)))
        torch.save({'params_ema': build_network(net_opt).state_dict()}, tmp_path / f'{name}.pth')
        paths[name] = (str(tmp_path / f'{name}.yml'), str(tmp_path / f'{name}.pth'))
    return paths


def test_speed_benchmark_prints_table_and_ratio(tiny_models, capsys):
    """The speed benchmark times ESRGAN and SRDDGAN for each T and setting and ends with the T=4 ratio line."""
    rows, ratio = load_script('benchmark_speed').main([
        '-opt', tiny_models['srddgan'][0], '--lr_size', '8', '--steps', '1,4', '--warmup', '0', '--reps', '1',
        '--settings', 'fp32', '--esrgan_num_block', '1', '--esrgan_num_feat', '8',
        '--esrgan_num_grow_ch', '4'])
    assert [(r['model'], r['setting']) for r in rows] == [('esrgan', 'fp32'), ('srddgan_T1', 'fp32'),
                                                          ('srddgan_T4', 'fp32')]
    gflops = {r['model']: r['gflops'] for r in rows}
    assert gflops['srddgan_T4'] > 3 * gflops['srddgan_T1'] > 0  # FLOPs grow with the number of steps
    assert all(0 < r['best_ms'] <= r['ms'] for r in rows)
    esrgan, srddgan = rows[0], rows[2]
    assert ratio == pytest.approx(srddgan['best_ms'] / esrgan['best_ms'])
    *_, mean_line, ratio_line = capsys.readouterr().out.strip().splitlines()
    assert mean_line == f'srddgan_T4_over_esrgan_mean: {srddgan["ms"] / esrgan["ms"]:.2f}'
    assert ratio > 0 and ratio_line == f'srddgan_T4_over_esrgan: {ratio:.2f}'


def test_interleaved_timing_warms_each_function_before_its_timed_call():
    """time_interleaved runs rounds of (warm-up calls, one timed call) per function, in turn, and reports the mean and
    the fastest of each function's timed calls."""
    calls = []
    sleeps = iter([0, 0, 0, 0.02, 0, 0])  # varying's calls: warm-up, timed, warm-up, timed (20 ms), ...

    def fast():
        calls.append('fast')

    def varying():
        calls.append('varying')
        time.sleep(next(sleeps))

    measured = time_interleaved([fast, varying], torch.device('cpu'), warmup=1, reps=3)
    assert calls == ['fast', 'fast', 'varying', 'varying'] * 3
    varying_times = measured[1]
    assert varying_times['best_ms'] < 10 < varying_times['ms'] * 3
    assert all(m['best_ms'] <= m['ms'] for m in measured)


def test_size_sweep_prints_per_pixel_cost_growth(tiny_models, capsys):
    """--size_sweep times the whole sample at each LR size with the CLI's defaults and ends with the growth line."""
    rows, growth = load_script('benchmark_speed').main([
        '-opt', tiny_models['srddgan'][0], '--size_sweep', '--sweep_sizes', '8,16', '--warmup', '0', '--reps', '1'])
    assert [(r['lr_size'], r['hr_size']) for r in rows] == [(8, 32), (16, 64)]
    assert rows[1]['ms_per_mp'] == pytest.approx(rows[1]['ms'] / 64**2 * 1e6)
    assert growth == pytest.approx(rows[1]['ms_per_mp'] / rows[0]['ms_per_mp'])
    assert capsys.readouterr().out.strip().splitlines()[-1] == f'per_pixel_cost_growth: {growth:.2f}'


def test_flop_count_follows_the_double_backward_of_r1():
    """count_gflops counts a convolution's 2 FLOPs per multiply-add and follows R1's gradient of a gradient (which
    FlopCounterMode's module hooks refuse): forward, its gradient with a graph, and the backward of that."""
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 8, 8)
    forward = 2 * 2 * 4 * 3 * 9 * 8 * 8 / 1e9
    assert count_gflops(lambda: conv(x)) == pytest.approx(forward)

    def r1():
        y = x.clone().requires_grad_(True)
        grad = torch.autograd.grad(conv(y).pow(2).sum(), y, create_graph=True)[0]
        grad.pow(2).sum().backward()

    assert count_gflops(r1) == pytest.approx(6 * forward)  # forward, input gradient, and both again for the backward


@pytest.mark.parametrize('r1_gamma, lazy_reg, g_every, expected', [
    (2.0, 10, 1, {1: 0.9, 10: 0.1}), (0.0, 10, 1, {1: 1.0}), (1.0, 2, 3, {1: 2 / 6, 2: 2 / 6, 3: 1 / 6, 6: 1 / 6})])
def test_iteration_mix_amortises_r1_and_g_steps(r1_gamma, lazy_reg, g_every, expected):
    """The kinds of iteration (R1 or not, G step or not) of one period of the schedule and their shares."""
    model = type('Model', (), dict(r1_gamma=r1_gamma, lazy_reg=lazy_reg, d_steps_per_g_step=g_every))()
    assert iteration_mix(model) == pytest.approx(expected)


def test_iteration_cost_amortises_the_r1_iteration(tmp_path):
    """An R1 iteration costs more FLOPs; the iteration's cost is the mean over lazy_reg iterations (FLOPs are
    deterministic: counted again, they are the same)."""
    opt = tiny_opt(tmp_path)
    opt['train'].update(lazy_reg=2, content_style_opt=None)
    model = build_standalone_model(opt)
    model.feed_data({'gt': torch.rand(1, 3, 32, 32), 'lq': torch.rand(1, 3, 8, 8)})
    plain, with_r1 = (count_gflops(lambda i=i: model.optimize_parameters(i)) for i in (1, 2))
    cost = iteration_cost(model, reps=1)
    assert with_r1 > plain > 0 and cost['gflops'] == pytest.approx((plain + with_r1) / 2)
    assert cost['ms'] > 0 and cost['cpu_ms'] > 0


@pytest.mark.slow
def test_train_benchmark_prints_iterations_beside_esrgan(tmp_path, capsys):
    """--train times and counts a tiny SRDDGAN config's iteration, ESRGAN's GAN iteration and the RRDBNet's L1
    iteration at the same batch and 128-px crop, and ends with the two ratio lines."""
    opt = tiny_opt(tmp_path)
    opt['train'].update(lazy_reg=2, content_style_opt=None)
    opt_path = tmp_path / 'tiny.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    rows, time_ratio, share = load_script('benchmark_speed').main([
        '--train', '-opt', str(opt_path), '--batch', '1', '--warmup', '0', '--reps', '1', '--esrgan_num_block', '1',
        '--esrgan_num_feat', '8', '--esrgan_num_grow_ch', '4'])
    assert [row['model'] for row in rows] == ['srddgan', 'esrgan_gan', 'rrdb_l1']
    gflops = {row['model']: row['gflops'] for row in rows}
    assert gflops['esrgan_gan'] > gflops['rrdb_l1'] > 0  # D and the VGG-19 add to the same RRDBNet's L1 iteration
    srddgan, esrgan = rows[0], rows[1]
    assert time_ratio == pytest.approx(srddgan['ms'] / esrgan['ms'])
    assert share == pytest.approx(srddgan['gflops_s'] / esrgan['gflops_s'])
    assert capsys.readouterr().out.strip().splitlines()[-2:] == [f'srddgan_iter_over_esrgan_iter: {time_ratio:.2f}',
                                                                 f'srddgan_train_gflops_share: {share:.2f}']


@pytest.fixture
def lpips_backbone(tmp_path):
    """A random AlexNet feature trunk saved as torchvision's state dict (enough for LPIPS)."""
    features = torchvision.models.alexnet().features.state_dict()
    torch.save({f'features.{k}': v for k, v in features.items()}, tmp_path / 'alexnet.pth')
    return str(tmp_path / 'alexnet.pth')


@pytest.mark.slow
def test_quality_benchmark_table(tmp_path, tiny_models, lpips_backbone):
    """All methods run on the same images through the same metrics; the markdown table has one row per method; the
    LR-consistent sampler and IBP reach an LR-PSNR above 45 dB."""
    (tmp_path / 'gt').mkdir()
    for i in range(1):
        cv2.imwrite(str(tmp_path / 'gt' / f'{i}.png'), cv2.resize(np.uint8(np.random.default_rng(i).random(
            (8, 8, 3)) * 255), (32, 32), interpolation=cv2.INTER_CUBIC))
    output = tmp_path / 'table.md'
    table = load_script('benchmark_quality').main([
        '--gt', str(tmp_path / 'gt'), '--methods', 'srddgan,srddgan_lrc,bicubic,ibp,esrgan',
        '--srddgan_opt', tiny_models['srddgan'][0],
        '--srddgan_model', tiny_models['srddgan'][1], '--rrdb_opt', tiny_models['rrdb'][0], '--esrgan_model',
        tiny_models['rrdb'][1], '--num_samples', '2', '--lpips_backbone', lpips_backbone, '--device', 'cpu',
        '--output', str(output)])
    lines = output.read_text().splitlines()
    assert table == output.read_text() and lines[0].startswith('| Method | PSNR')
    with pytest.raises(FileExistsError, match=r'table\.md exists .*or give --overwrite'):  # before any method runs
        load_script('benchmark_quality').main(['--gt', str(tmp_path / 'gt'), '--methods', 'bicubic', '--output',
                                               str(output)])
    rows = {line.split(' | ')[0][2:]: line.split(' | ')[1:] for line in lines[2:7]}
    assert sorted(rows) == ['bicubic', 'esrgan', 'ibp', 'srddgan', 'srddgan_lrc']
    assert rows['srddgan'][8] != 'n/a' and rows['bicubic'][8] == 'n/a'  # diversity only for the stochastic methods
    assert float(rows['srddgan_lrc'][9]) > 0 and rows['ibp'][9] == 'n/a'  # so is the pixel std across samples
    assert rows['bicubic'][4] != 'n/a' and float(rows['bicubic'][5]) > 20  # LPIPS computed; bicubic is LR-consistent
    assert float(rows['ibp'][5]) > 45 and float(rows['srddgan_lrc'][5]) > 45 > float(rows['srddgan'][5])
    assert float(rows['ibp'][10]) > float(rows['bicubic'][10]) > 0  # the projection restores detail bicubic blurs
    assert 0 < float(rows['ibp'][7]) < float(rows['bicubic'][7])  # and its patches are closer to the HR's (SWD)
    assert lines[0].startswith('| Method | PSNR ↑ | SSIM ↑ | PSNR-Y ↑ | SSIM-Y ↑ | LPIPS ↓')  # both conventions
    assert 'NIQE needs images of at least 96' in table


def test_quality_benchmark_scores_lr_photos_without_ground_truth(tmp_path, tiny_models, capsys):
    """--lq alone (real photographs: no HR) gives the same table, one row per method, with the metrics that need no
    HR (NIQE, LR-PSNR, pixel std, seconds) and none of those that do."""
    (tmp_path / 'lq').mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / 'lq' / f'{i}.png'), cv2.resize(np.uint8(np.random.default_rng(i).random(
            (6, 3, 3)) * 255), (24, 48), interpolation=cv2.INTER_CUBIC))
    table = load_script('benchmark_quality').main([
        '--lq', str(tmp_path / 'lq'), '--methods', 'srddgan,bicubic', '--srddgan_opt', tiny_models['srddgan'][0],
        '--srddgan_model', tiny_models['srddgan'][1], '--num_samples', '2', '--device', 'cpu'])
    lines = table.splitlines()
    assert lines[0] == '| Method | LR-PSNR ↑ | NIQE ↓ | Pixel std ↑ | s/image |'
    rows = {line.split(' | ')[0][2:]: line.split(' | ')[1:] for line in lines[2:4]}
    assert sorted(rows) == ['bicubic', 'srddgan'] and float(rows['bicubic'][1]) > 0 and float(rows['srddgan'][1]) > 0
    assert float(rows['srddgan'][2]) > 0 and rows['bicubic'][2] == 'n/a'
    assert '2 images, x4, no ground truth' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        load_script('benchmark_quality').main(['--methods', 'bicubic'])


def test_quality_benchmark_needs_weights_for_baselines(tmp_path):
    """rrdb/esrgan without --*_model stop with an error naming the option."""
    (tmp_path / 'gt').mkdir()
    cv2.imwrite(str(tmp_path / 'gt' / 'a.png'), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match='--rrdb_model'):
        load_script('benchmark_quality').main(['--gt', str(tmp_path / 'gt'), '--methods', 'rrdb', '--device', 'cpu'])


def test_quality_benchmark_steps_other_than_trained_need_force(tmp_path, tiny_models):
    """--steps other than the trained T (2) is refused without --force_steps; forced, it samples with T = 4."""
    (tmp_path / 'gt').mkdir()
    cv2.imwrite(str(tmp_path / 'gt' / 'a.png'), np.full((32, 32, 3), 128, np.uint8))
    args = ['--gt', str(tmp_path / 'gt'), '--methods', 'srddgan', '--srddgan_opt', tiny_models['srddgan'][0],
            '--srddgan_model', tiny_models['srddgan'][1], '--num_samples', '1', '--device', 'cpu', '--steps', '4']
    script = load_script('benchmark_quality')
    with pytest.raises(ValueError, match='--force_steps'):
        script.build_methods(script.parse_args(args))
    lq = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    trained = script.build_methods(script.parse_args([*args[:-2], '--steps', '2']))['srddgan'](lq, 0)
    forced = script.build_methods(script.parse_args([*args, '--force_steps']))['srddgan'](lq, 0)
    assert forced.shape == trained.shape == (32, 32, 3) and np.abs(forced.astype(int) - trained).max() > 0


def test_quality_benchmark_rows_of_the_sampling_knobs(tmp_path, tiny_models):
    """--reduce mean adds a row per K whose image is the rounded mean of K samples (seeds seed, seed + 1, ...);
    --interpolate / --alphas a row per alpha, alpha 0 sampling as the model itself; both are measured as stochastic
    (pixel std) only where a seed draws one sample."""
    torch.manual_seed(1)
    second = tmp_path / 'second.pth'
    torch.save({'params_ema': build_network(TINY_SRDDGAN).state_dict()}, second)
    (tmp_path / 'gt').mkdir()
    cv2.imwrite(str(tmp_path / 'gt' / 'a.png'), np.full((32, 32, 3), 128, np.uint8))
    script = load_script('benchmark_quality')
    opt_path, model_path = tiny_models['srddgan']
    args = script.parse_args(['--gt', str(tmp_path / 'gt'), '--methods', 'srddgan', '--srddgan_opt', opt_path,
                              '--srddgan_model', model_path, '--device', 'cpu', '--reduce', 'mean',
                              '--reduce_samples', '3', '--interpolate', str(second), '--alphas', '0,1'])
    methods = script.build_methods(args)
    assert list(methods) == ['srddgan', 'srddgan mean of 3', 'srddgan alpha 0', 'srddgan alpha 1']
    lq = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    samples = [methods['srddgan'].upsampler.enhance(lq.astype(np.float32) / 255, seed=s) for s in (4, 5, 6)]
    np.testing.assert_array_equal(methods['srddgan mean of 3'](lq, 4), to_uint8(np.mean(samples, axis=0)))
    np.testing.assert_array_equal(methods['srddgan alpha 0'](lq, 4), methods['srddgan'](lq, 4))
    assert np.abs(methods['srddgan alpha 1'](lq, 4).astype(int) - methods['srddgan'](lq, 4)).max() > 0
    assert [run.draws_samples for run in methods.values()] == [True, False, True, True]
    with pytest.raises(SystemExit):
        script.parse_args(['--gt', 'x', '--alphas', '0.5'])


@pytest.mark.parametrize('method, written', [('srddgan', 7), ('bicubic', 3)])
def test_fid_samples_cycle_over_the_images_with_new_seeds(tmp_path, method, written):
    """FID/IS images: --fid_samples of them, the LR images again with the next seed once all are used (7 from 3
    images: seeds 0, 0, 0, 1, 1, 1, 2); a deterministic method writes one per image."""
    pairs = [(f'{name}.png', None, np.full((2, 2, 3), value, np.uint8)) for name, value in (('a', 10), ('b', 20),
                                                                                                ('c', 30))]

    def run(lq, seed):
        return lq + seed

    count = load_script('benchmark_quality').save_fid_samples(method, run, pairs, str(tmp_path), 7, seed=0)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert count == written == len(files)
    if method == 'srddgan':
        assert files == ['a_s0.png', 'a_s1.png', 'a_s2.png', 'b_s0.png', 'b_s1.png', 'c_s0.png', 'c_s1.png']
        assert cv2.imread(str(tmp_path / 'b_s1.png'))[0, 0, 0] == 21


def test_inception_weights_missing_is_clear(tmp_path, monkeypatch):
    """Without the Inception weights (cache or path), FID/IS raise an error naming the file and where it goes."""
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f'{INCEPTION_FILE}.*--inception_path'):
        build_inception()
    with pytest.raises(FileNotFoundError, match=INCEPTION_FILE):
        build_inception(str(tmp_path / 'missing.pth'))


def test_fid_is_with_stand_in_features():
    """torch-fidelity's FID/IS formulas on stand-in features: FID(x, x) = 0, grows with a shift; IS of one class = 1."""
    def extractor(x):
        mean = x.float().mean(dim=(2, 3))
        return mean, torch.zeros(x.shape[0], 10)  # uninformative logits: IS = 1

    rng = np.random.default_rng(0)
    real = [rng.integers(0, 200, (8, 8, 3), dtype=np.uint8) for _ in range(40)]
    shifted = [img + 50 for img in real]
    same = calculate_fid_is(real, real, extractor=extractor, isc_splits=2)
    moved = calculate_fid_is(shifted, real, extractor=extractor, isc_splits=2)
    assert abs(same['fid']) < 1e-6 and moved['fid'] == pytest.approx(3 * 50**2, rel=1e-6)
    assert same['is_mean'] == pytest.approx(1.0)


def test_training_batch_of_an_option_file():
    """The batch of one training iteration: train.total_batch, else datasets.train.batch_size_per_gpu, else 1."""
    train = {'total_iter': 10}
    per_process = {'datasets': {'train': {'batch_size_per_gpu': 4}}}
    assert training_batch_size({'train': {**train, 'total_batch': 8}, **per_process}) == 8
    assert training_batch_size({'train': train, **per_process}) == 4
    assert training_batch_size({'train': train, 'datasets': {}}) == 1


def test_gpu_hours_estimate(tmp_path, capsys):
    """estimate_gpu_hours counts the FLOPs of one training iteration (D and G step) of a tiny config and converts them
    to GPU-hours for its batch (``training_batch_size``)."""
    batch_options, batch = {'train': {'total_batch': 8}}, 8
    opt = {'name': 'tiny', 'model_type': 'SRDDGANModel', 'scale': 4, 'diffusion': {'num_timesteps': 2},
           'network_g': {'type': 'SRDDGANUNet', 'scale': 4, 'image_size': 32, 'num_feat': 8, 'ch_mult': [1, 2],
                         'num_res_blocks': 1, 'attn_resolutions': [], 'z_dim': 8, 'encoder_num_feat': 8,
                         'encoder_num_block': 2, 'encoder_num_grow_ch': 4},
           'network_d': {'type': 'SRDDGANDiscriminator', 'num_feat': 8, 'image_size': 32, 't_emb_dim': 16},
           'train': {'total_iter': 1000, 'r1_gamma': 1.0, 'lazy_reg': 10,
                     'optim_g': {'type': 'AdamW', 'lr': 1.0e-4}, 'optim_d': {'type': 'AdamW', 'lr': 1.0e-4},
                     'content_style_opt': {'type': 'ContentStyleLoss', 'layer_weights': {'relu1_2': 1.0}}}}
    opt['train'].update(batch_options.get('train', {}))
    opt['datasets'] = batch_options.get('datasets', {})
    opt_path = tmp_path / 'tiny.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    load_script('estimate_gpu_hours').main(['-opt', str(opt_path), '--tflops', '1e-6'])
    first, rate, shared = capsys.readouterr().out.strip().splitlines()[-3:]
    per_image = float(first.split(' = ')[1].split(' GFLOPs')[0])
    assert per_image > 0 and f'{batch} x 1000 iterations' in first
    hours = float(rate.split(': ')[1].split(' GPU-hours')[0].replace(',', ''))
    assert hours > 100 and hours == pytest.approx(per_image * 1e9 * batch * 1000 / 1e6 / 3600, rel=1e-3)
    # sharing G's forward between the D and G steps saves one G forward: fewer FLOPs, hours saved
    shared_per_image = float(shared.split(': true: ')[1].split(' GFLOPs')[0])
    saved = float(shared.split('), ')[1].split(' GPU-hours')[0].replace(',', ''))
    assert 0 < shared_per_image < per_image
    assert saved == pytest.approx((per_image - shared_per_image) * 1e9 * batch * 1000 / 1e6 / 3600, rel=1e-2, abs=1)


@pytest.mark.slow
def test_count_params_of_the_paper_option_files(capsys):
    """count_params builds the networks of the paper option files: the sizes the README quotes (face model 41.64M
    generator + encoder; the paper reports 39.14M)."""
    load_script('count_params').main([])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ['div2k_x4 generator=39.01 encoder=1.45 discriminator=22.23 g+e=40.46',
                     'faces_x8 generator=40.19 encoder=1.45 discriminator=22.23 g+e=41.64',
                     'cifar10_x2 generator=47.72 encoder=1.45 discriminator=12.46 g+e=49.17']


def test_quality_benchmark_refuses_lr_images_that_are_not_their_gts(tmp_path):
    """Two LR files swapped (19 dB in the issue's report, never noticed) are refused, naming both; the bicubic LR
    of each GT passes; --degraded_lq (LR made by another degradation) skips the check."""
    from basicsr.utils.matlab_functions import imresize

    script = load_script('benchmark_quality')
    for folder in ('gt', 'lq'):
        (tmp_path / folder).mkdir()
    for i in range(3):
        y, x = np.mgrid[0:32, 0:32]
        gt = np.stack([np.sin(x / (2 + i)) * 100 + 128, np.cos(y / (3 + i)) * 100 + 128, (x + i * y) * 4 % 256], 2)
        cv2.imwrite(str(tmp_path / 'gt' / f'{i}.png'), gt.astype(np.uint8))
        lq = np.clip(imresize(gt.astype(np.uint8) / 255., 1 / 4) * 255, 0, 255).round().astype(np.uint8)
        cv2.imwrite(str(tmp_path / 'lq' / f'{[1, 0, 2][i]}.png'), lq)  # the LR of 0 and 1 swapped
    with pytest.raises(ValueError, match=r'--lq: 2 LR images are not the x4 bicubic downscale of their GT .*0\.png '
                                         r'\(\d+\.\d dB\), .*1\.png .*give --degraded_lq'):
        script.load_pairs(str(tmp_path / 'gt'), str(tmp_path / 'lq'), 4)
    assert len(script.load_pairs(str(tmp_path / 'gt'), str(tmp_path / 'lq'), 4, degraded_lq=True)) == 3
    (tmp_path / 'lq' / '0.png').rename(tmp_path / 'lq' / 'tmp.png')
    (tmp_path / 'lq' / '1.png').rename(tmp_path / 'lq' / '0.png')
    (tmp_path / 'lq' / 'tmp.png').rename(tmp_path / 'lq' / '1.png')
    assert [name for name, _, _ in script.load_pairs(str(tmp_path / 'gt'), str(tmp_path / 'lq'), 4)] == [
        '0.png', '1.png', '2.png']
