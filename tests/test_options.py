"""Option checks (srddgan_arch.options): typed sections, constructor sections, sizes, data, the paper's values."""
import copy
import dataclasses
import glob
import inspect
import re
from os import path as osp

import pytest
import yaml
from conftest import run_options, write_paired_images

from srddgan_arch.data.preflight import check_data
from srddgan_arch.diffusion import DiffusionOptions, DiffusionSchedule
from srddgan_arch.models import srddgan_options
from srddgan_arch.models.sample_validation import ValOptions
from srddgan_arch.models.srddgan_options import TrainOptions, parse_model_options
from srddgan_arch.options import OptionError
from srddgan_arch.options.runs import check_option_keys, check_run_options, resolve_total_batch
from srddgan_arch.options.schema import Section


def start_up(opt):
    """The checks of a train.py / test.py run when BasicSR has parsed its options: the sections, then the data."""
    check_run_options(opt)
    check_data(opt)


def check(opt):
    """Every check of a train.py / test.py run: when the options are parsed, then when the model is built."""
    start_up(opt)
    return parse_model_options(opt)




def test_defaults_fill_in_and_the_diffusion_defaults_are_the_schedule_s():
    """Absent keys take the section's defaults; DiffusionOptions' defaults are DiffusionSchedule's."""
    train = TrainOptions.from_dict({'total_iter': 10, 'optim_g': {}, 'optim_d': {}})
    assert (train.lazy_reg, train.grad_clip, train.amp_dtype) == (1, None, 'bfloat16')
    assert ValOptions.from_dict(None).num_samples == 1
    signature = inspect.signature(DiffusionSchedule).parameters
    assert dataclasses.asdict(DiffusionOptions()) == {name: p.default for name, p in signature.items()}


def test_section_docstrings_list_every_key():
    """Each key's type, meaning and default are written once, in the section, and shown in its docstring."""
    sections, unseen = [], Section.__subclasses__()
    while unseen:  # every section declared, wherever it sits
        sections.append(unseen.pop())
        unseen += sections[-1].__subclasses__()
    assert len(sections) >= 10
    for section in sections:
        for field in dataclasses.fields(section):
            assert f'{field.name} (' in section.__doc__ and field.metadata['doc'] in section.__doc__


@pytest.fixture
def lpips_backbone_in_cache(tmp_path, monkeypatch, trusted_hashes):
    """An (empty) AlexNet file in a temporary torchvision cache, its name's hash trusted: the checks only look for
    the file."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    checkpoints = tmp_path / 'torch' / 'hub' / 'checkpoints'
    checkpoints.mkdir(parents=True)
    (checkpoints / 'alexnet-owt-7be5be79.pth').write_bytes(b'')


def test_option_files_pass_the_checks(tmp_path, lpips_backbone_in_cache):
    """Every option file in options/ passes the checks of a parsed run, on one HR/LR pair of the sizes it expects in
    place of its data folders and an empty file in place of the weights it loads (G's and D's)."""
    paths = sorted(glob.glob(osp.join(osp.dirname(__file__), '..', 'options', '*.yml')))
    assert len(paths) >= 9
    (tmp_path / 'net_g.pth').write_bytes(b'')
    for path in paths:
        with open(path) as f:
            opt = yaml.safe_load(f)
        check_option_keys(opt)
        # what BasicSR's parse_options adds
        opt.update(is_train='train' in opt, num_gpu=0, dist=False, rank=0, world_size=1)
        resolve_total_batch(opt)
        for phase, dataset in opt['datasets'].items():
            size = dataset.get('crop_pad_size', dataset.get('gt_size', 128))
            data = write_paired_images(str(tmp_path / osp.basename(path) / phase), 1, size, opt['scale'])
            dataset.update(phase=phase.split('_')[0], scale=opt['scale'], dataroot_gt=data[0])
            if 'meta_info' in dataset:  # Real-ESRGAN's data set lists its HR images
                dataset['meta_info'] = osp.join(data[0], '..', 'meta_info.txt')
                with open(dataset['meta_info'], 'w') as f:
                    f.write('000.png\n')
            if 'dataroot_lq' in dataset:
                dataset['dataroot_lq'] = data[1]
        for key in ('pretrain_network_g', 'pretrain_network_d'):
            if opt['path'].get(key):
                opt['path'][key] = str(tmp_path / 'net_g.pth')
        check(opt) if opt['model_type'] == 'SRDDGANModel' else start_up(opt)


def _set(opt, dotted, value):
    *parents, last = dotted.split('.')
    for key in parents:
        opt = opt[key]
    opt[last] = value


@pytest.mark.parametrize('dotted, value, message', [
    ('network_g.num_feats', 8, r'network_g\.num_feats .*Did you mean .num_feat.'),
    ('network_d.lr_cnd', True, r'network_d\.lr_cnd'),
    ('network_g.type', 'SRDDGANUnet', r'network_g\.type.*Did you mean .SRDDGANUNet.'),
    ('network_g.num_res_blocks', '2', r'network_g\.num_res_blocks must be like its default'),
    ('diffusion.num_timestep', 4, r'Unknown option diffusion\.num_timestep\. Did you mean .num_timesteps.'),
    ('diffusion.num_timesteps', 0, r'diffusion\.num_timesteps must be an int >= 1'),
    ('diffusion.beta_min', 30.0, r'diffusion\.beta_min must be smaller than diffusion\.beta_max'),
    ('train.ema_decy', 0.999, r'Unknown option train\.ema_decy\. Did you mean .ema_decay.'),
    ('train.optim_g.lr', '1e-4', r'train\.optim_g\.lr must be a number.*write 1\.0e-04 or !!float 1e-4'),
    ('train.optim_d.beta', [0.5, 0.9], r'train\.optim_d\.beta .*Did you mean .betas.'),
    ('train.lazy_reg', 0, r'train\.lazy_reg must be a positive int'),
    ('train.use_amp', 'yes', r'train\.use_amp must be true or false'),
    ('train.pixel_opt.loss_weigth', 1.0, r'train\.pixel_opt\.loss_weigth'),
    ('network_g.ch_mult', [1] * 7, r'datasets\.train\.gt_size = 32 must be divisible by 64'),
    ('datasets.train.gt_size', 30, r'datasets\.train\.gt_size = 30 is not divisible by scale 4'),
    ('scale', 2, r'scale is 2 but network_g\.scale is 4'),
    ('datasets.train.dataroot_gt', '/no/such/folder', r'datasets\.train\.dataroot_gt: data folder /no/such/folder'),
    ('val.num_sample', 2, r'Unknown option val\.num_sample\. Did you mean .num_samples.'),
    ('val.metrics.psnr.type', 'calculate_psnrr', r'val\.metrics\.psnr\.type'),
    ('train.lazy_reg', None, r'train\.lazy_reg must be a positive int, got null'),
    ('val.metrics.lpips', {'type': 'calculate_lpips', 'backbone_path': '/no/alexnet.pth'},
     r'val\.metrics\.lpips: .*alexnet.pth'),
    ('network_g.freeze_encoder', True, r'network_g\.freeze_encoder is true but no weights reach the encoder'),
    ('lr_consistency', {'downsampler': 'bilinear'}, r"lr_consistency\.downsampler must be one of 'none', 'bicubic'"),
    ('lr_consistency', {'iteration': 3}, r'Unknown option lr_consistency\.iteration\. Did you mean .iterations.'),
    ('lr_consistency', {'iterations': 0}, r'lr_consistency\.iterations must be a positive int'),
])
def test_option_mistakes_raise_one_clear_error(tmp_path, dotted, value, message):
    """Each misspelt key, wrong type or inconsistent size raises an OptionError (a ValueError) naming the key."""
    opt = run_options(tmp_path)
    _set(opt, dotted, value)
    with pytest.raises(ValueError, match=message):
        check(opt)


def test_the_model_takes_the_run_checks_parse_while_its_sections_are_unchanged(tmp_path, monkeypatch):
    """The run checks parse the model's sections once and the model built from the same options (BasicSR builds it
    from a deep copy) takes that parse; a section changed in between (a resume points path at its checkpoints) is
    parsed again."""
    opt = run_options(tmp_path)
    parses, parse = [], srddgan_options._parse_sections
    monkeypatch.setattr(srddgan_options, '_parse_sections', lambda sections: parses.append(1) or parse(sections))
    check_run_options(opt)
    settings = parse_model_options(copy.deepcopy(opt))
    assert len(parses) == 1 and settings == parse_model_options(opt)
    opt['path']['strict_load_g'] = False
    changed = parse_model_options(opt)
    assert len(parses) == 2 and changed.path.strict_load_g is False


@pytest.mark.parametrize('metric', [{'type': 'calculate_diversity', 'backbone_path': __file__},
                                    {'type': 'calculate_sample_std'}])
def test_spread_metrics_need_several_samples(tmp_path, metric):
    """Diversity of a single sample is always 0: the check asks for val.num_samples >= 2."""
    opt = run_options(tmp_path)
    opt['val']['num_samples'] = 1
    opt['val']['metrics']['spread'] = metric
    with pytest.raises(OptionError, match=rf'val\.metrics\.spread: {metric["type"]} needs val\.num_samples >= 2'):
        check(opt)


def test_test_run_needs_the_trained_generator(tmp_path):
    """test.py options without path.pretrain_network_g are refused: they would sample from random weights."""
    opt = run_options(tmp_path, is_train=False)
    opt['path']['pretrain_network_g'] = None
    with pytest.raises(OptionError, match=r'path\.pretrain_network_g is missing'):
        check_run_options(opt)


@pytest.mark.parametrize('world_size, per_gpu, expected', [(1, None, 48), (4, None, 12), (8, None, 6), (4, 12, 12)])
def test_total_batch_sets_the_batch_per_process(world_size, per_gpu, expected):
    """train.total_batch gives the paper's batch on any number of processes."""
    opt = {'world_size': world_size, 'train': {'total_batch': 48},
           'datasets': {'train': {} if per_gpu is None else {'batch_size_per_gpu': per_gpu}}}
    resolve_total_batch(opt)
    assert opt['datasets']['train']['batch_size_per_gpu'] == expected


@pytest.mark.parametrize('world_size, per_gpu, message', [(5, None, 'not divisible by the 5 processes'),
                                                          (8, 12, r'12 x 8 processes is not train\.total_batch')])
def test_total_batch_contradictions_are_errors(world_size, per_gpu, message):
    """A total batch that cannot be split, or a batch_size_per_gpu that contradicts it, is an error."""
    opt = {'world_size': world_size, 'train': {'total_batch': 48},
           'datasets': {'train': {} if per_gpu is None else {'batch_size_per_gpu': per_gpu}}}
    with pytest.raises(OptionError, match=message):
        resolve_total_batch(opt)


def test_lmdb_without_meta_info_is_reported(tmp_path):
    """An LMDB data root without meta_info.txt names the key and the missing file; one with it is read for the sizes
    of one pair."""
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs
    opt = run_options(tmp_path)
    hr_lmdb, lr_lmdb = tmp_path / 'HR.lmdb', tmp_path / 'LR.lmdb'
    hr_lmdb.mkdir()
    opt['datasets']['train'].update(io_backend={'type': 'lmdb'}, dataroot_gt=str(hr_lmdb))
    with pytest.raises(OptionError, match=r'datasets\.train\.dataroot_gt: LMDB .*meta_info\.txt'):
        check(opt)
    hr_lmdb.rmdir()  # BasicSR's writer makes the folder
    for folder, lmdb_path in ((tmp_path / 'data' / 'HR', hr_lmdb), (tmp_path / 'data' / 'LR', lr_lmdb)):
        make_lmdb_from_imgs(str(folder), str(lmdb_path), ['000.png'], ['000'], map_size=1 << 20)
    (lr_lmdb / 'meta_info.txt').write_text('000.png (16,16,3) 1\n')
    opt['datasets']['train']['dataroot_lq'] = str(lr_lmdb)
    with pytest.raises(OptionError, match=r'HR .*HR\.lmdb:000 is 32x32 and LR .*LR\.lmdb:000 16x16, a scale of 2, '
                       r'but scale is 4 \(sizes as the LMDB folders. meta_info\.txt list them: a meta_info\.txt'):
        check(opt)
    (lr_lmdb / 'meta_info.txt').write_text('000.png (8,8,3) 1\n')
    check(opt)


@pytest.mark.parametrize('dotted, value, message', [
    ('manual_sed', 0, r'Unknown option manual_sed\. Did you mean .manual_seed.'),
    ('datasets.train.dataset_enlarge_ration', 20, r'Unknown option datasets\.train\.dataset_enlarge_ration\. Did you '
     r'mean .dataset_enlarge_ratio.'),
    ('datasets.train.use_hflp', True, r'Unknown option datasets\.train\.use_hflp\. Did you mean .use_hflip.'),
    ('datasets.train.gt_sise', 32, r'Unknown option datasets\.train\.gt_sise\. Did you mean .gt_size.'),
    ('datasets.train.type', 'PairedImageDatset', r'datasets\.train\.type.*Did you mean .PairedImageDataset.'),
    ('datasets.valid', {'name': 'v', 'type': 'PairedImageDataset'}, r'datasets\.valid: a training run builds the '
     r'phases train, train_\* and val, val_\*'),
    ('datasets.train.batch_size_per_gpu', 0, r'datasets\.train\.batch_size_per_gpu must be a positive int'),
    ('datasets.train.prefetch_mode', 'gpu', r'datasets\.train\.prefetch_mode must be one of'),
    ('val.metrics.psnr.crop_bordr', 0, r'val\.metrics\.psnr\.crop_bordr is not an argument of calculate_psnr\. Did '
     r'you mean .crop_border.'),
    ('val.metrics.ssim', {'type': 'calculate_ssim'}, r'val\.metrics\.ssim\.crop_border is missing'),
    ('val.val_freq', None, r'val\.val_freq must be a positive number, got null'),
    ('logger.save_checkpoint_frq', 5, r'Unknown option logger\.save_checkpoint_frq\. Did you mean '
     r'.save_checkpoint_freq.'),
    ('logger.wandb', {'project': 'p'}, r'logger\.wandb\.project needs logger\.use_tb_logger: true'),
    ('path.pretrain_netwrok_g', 'g.pth', r'Unknown option path\.pretrain_netwrok_g\. Did you mean '
     r'.pretrain_network_g.'),
    ('path.pretrain_network_g', '/no/net_g.pth', r'path\.pretrain_network_g: /no/net_g\.pth does not exist'),
    ('dist_params', {'bakend': 'gloo'}, r'Unknown option dist_params\.bakend\. Did you mean .backend.'),
    ('num_gpu', -1, r'num_gpu must be an int >= 0'),
])
def test_every_section_a_run_reads_is_checked(tmp_path, dotted, value, message):
    """Misspelt or wrong keys of the top level, the data sets, the metrics (against the metric functions'
    signatures), logger, path and dist_params are errors naming the key when the options are parsed, not a silent
    default, a bare KeyError after training started, or a crash at the first validation."""
    opt = run_options(tmp_path)
    _set(opt, dotted, value)
    with pytest.raises(OptionError, match=message):
        check_run_options(opt)


@pytest.mark.parametrize('key', ['logger', 'datasets.train.use_hflip', 'datasets.train.num_worker_per_gpu',
                                 'val.val_freq'])
def test_keys_training_reads_unguarded_are_required(tmp_path, key):
    """Keys BasicSR's train loop reads with [] (a KeyError after the data sets were built) must be given."""
    opt = run_options(tmp_path)
    *parents, last = key.split('.')
    section = opt
    for parent in parents:
        section = section[parent]
    del section[last]
    with pytest.raises(OptionError, match=f'{last}.* missing|{key}.*missing'):
        check_run_options(opt)


def test_raw_top_level_keys_are_checked_before_basicsr_parses():
    """A misspelt key BasicSR reads unguarded while parsing (path) is named before BasicSR's KeyError."""
    with pytest.raises(OptionError, match=r'Unknown option paths\. Did you mean .path.'):
        check_option_keys({'name': 'x', 'model_type': 'SRDDGANModel', 'num_gpu': 0, 'datasets': {}, 'paths': {},
                           'network_g': {}})


@pytest.mark.parametrize('change, message', [
    ({'scale': 2, 'network_g.scale': 2}, r'HR .*000\.png is 32x32 and LR .*000\.png 8x8, a scale of 4, but scale is 2'),
    ({'datasets.train.gt_size': 64}, r'datasets\.train\.gt_size = 64 is larger than 1 of the 1 HR images: '
     r'.*000\.png \(32x32\)'),
])
def test_data_that_contradicts_the_options_is_found_at_start_up(tmp_path, change, message):
    """One HR/LR pair per data set is read at start-up: LR data of another scale, and gt_size larger than the HR
    images, are named with the files (not at the first batch, nor as BasicSR's advice to delete a file)."""
    opt = run_options(tmp_path)
    for dotted, value in change.items():
        _set(opt, dotted, value)
    with pytest.raises(OptionError, match=message):
        start_up(opt)


@pytest.mark.parametrize('config, lr_g, lr_d, total_iter, total_batch, num_feat, ch_mult, scale, gt_size', [
    ('DIV2K_x4', 1e-4, 1.6e-4, 300000, 48, 64, [1, 1, 2, 2, 4, 4], 4, 128),
    ('FFHQ_x8', 1e-4, 1.6e-4, 240000, 48, 64, [1, 1, 2, 2, 4, 4], 8, 128),
    ('CIFAR10_x2', 1.5e-4, 1.2e-4, 280000, 128, 128, [1, 2, 2, 2], 2, 32),
])
@pytest.mark.parametrize('variant', ['', '_degraded'])
def test_paper_configs_hold_table_1(config, lr_g, lr_d, total_iter, total_batch, num_feat, ch_mult, scale, gt_size,
                                    variant):
    """The paper option files carry the paper's Table 1 (Xiao et al. 2024): the values above per data set, AdamW
    betas (0.5, 0.9), EMA 0.999, alpha/beta/eta 1/0.8/0.2 with the effective content/style normalisation (see
    ContentStyleLoss), T = 4, z 256, attention at 16."""
    with open(osp.join(osp.dirname(__file__), '..', 'options', f'train_SRDDGAN_{config}{variant}.yml')) as f:
        opt = yaml.safe_load(f)
    train, net_g = opt['train'], opt['network_g']
    assert (train['optim_g']['type'], train['optim_d']['type']) == ('AdamW', 'AdamW')
    assert (float(train['optim_g']['lr']), float(train['optim_d']['lr'])) == (lr_g, lr_d)
    assert train['optim_g']['betas'] == train['optim_d']['betas'] == [0.5, 0.9]
    assert (train['ema_decay'], train['total_iter'], train['total_batch']) == (0.999, total_iter, total_batch)
    losses = train['content_style_opt']
    assert (train['gan_weight'], losses['content_weight'], losses['style_weight']) == (1.0, 0.8, 0.2)
    assert list(losses['layer_weights']) == ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_1']
    assert (losses['content_distance'], losses['style_distance'], losses['gram_norm']) == ('mse', 'rms', 'hw')
    assert opt['diffusion']['num_timesteps'] == 4 and net_g['z_dim'] == 256 and net_g['attn_resolutions'] == [16]
    assert (net_g['num_feat'], net_g['ch_mult'], net_g['scale'], opt['scale']) == (num_feat, ch_mult, scale, scale)
    assert opt['datasets']['train']['gt_size'] == gt_size and net_g['lr_encoder'] and net_g['lr_concat']


def test_option_errors_show_values_shortened():
    """A huge value (here nested lists sharing one object, as YAML aliases make them) is one short message naming
    the key, at once; a number YAML read as a string gets the spelling YAML reads as a number."""
    value = ['lol'] * 9
    for _ in range(8):
        value = [value] * 9  # 9**9 strings once printed in full
    with pytest.raises(OptionError) as error:
        TrainOptions.from_dict({'total_iter': 1, 'optim_g': {}, 'optim_d': {}, 'ema_decay': value})
    message = str(error.value)
    assert message.startswith('train.ema_decay must be') and '...' in message and len(message) < 300, message
    for text, spelling in (('1e10', '1.0e+10'), ('1e-4', '1.0e-04'), ('2E3', '2.0e+03')):
        with pytest.raises(OptionError, match=rf'YAML reads {text} as a string: write {re.escape(spelling)} or '
                           rf'!!float {text}'):
            TrainOptions.from_dict({'total_iter': 1, 'optim_g': {}, 'optim_d': {}, 'ema_decay': text})
        assert yaml.safe_load(f'x: {spelling}')['x'] == float(text)
