"""Real-ESRGAN's option files read by srddgan's models: its keys where Real-ESRGAN reads them, with its meanings.

A Real-ESRGAN user's ``train_realesrnet_x4plus.yml`` / ``train_realesrgan_x4plus.yml`` trains SRDDGAN after four
edits (``model_type``, ``network_g``, ``network_d``, and ``train.optim_d`` where the file has none). Its own keys are
rewritten here into srddgan's sections, before the checks read the file, or refused with what to write instead:

- the top-level degradation keys (``resize_prob`` ... ``jpeg_range2``, ``queue_size``, ``gt_usm`` and the three
  ``l1_gt_usm`` / ``percep_gt_usm`` / ``gan_gt_usm``) -> the ``realesrgan`` section;
- the top-level ``gt_size`` -> ``datasets.train.gt_size``; ``type: RealESRGANDataset`` -> srddgan's
  ``SRDDGANRealESRGANDataset`` (BasicSR registers its copy as ``RealESRGANDataset_basicsr``); ``use_shuffle`` read and
  ignored, as BasicSR ignores it (its sampler shuffles);
- ``train.perceptual_opt`` (BasicSR's ``PerceptualLoss``) -> ``train.content_style_opt`` (``ContentStyleLoss``,
  ``criterion`` l1 or l2); ``train.gan_opt`` (a vanilla ``GANLoss``) -> ``train.gan_weight``; ``train.net_d_iters``
  -> ``train.d_steps_per_g_step``; ``train.net_d_init_iters: 0`` dropped.
"""
from basicsr.utils.registry import DATASET_REGISTRY

from srddgan_arch.options.schema import OptionError, shown

REALESRGAN_DATASET = 'RealESRGANDataset'  # the type name Real-ESRGAN's files give
SRDDGAN_REALESRGAN_DATASET = 'SRDDGANRealESRGANDataset'  # srddgan's, which reads them
# BasicSR PerceptualLoss key -> ContentStyleLoss key (same meaning)
PERCEPTUAL_KEYS = {'layer_weights': 'layer_weights', 'vgg_type': 'vgg_type', 'use_input_norm': 'use_input_norm',
                   'perceptual_weight': 'content_weight', 'style_weight': 'style_weight',
                   'pretrained': 'pretrained', 'pretrained_path': 'pretrained_path'}
CRITERIA = {'l1': 'l1', 'l2': 'mse'}  # PerceptualLoss criterion -> ContentStyleLoss content_distance


def _move(source, key, target, target_key, where):
    """Move ``source[key]`` to ``target[target_key]``; the same key given in both places with other values is an
    error naming both."""
    value = source.pop(key)
    if target_key in target and target[target_key] != value:
        raise OptionError(f'{key} = {shown(value)} and {where} = {shown(target[target_key])} disagree: give one of '
                          'them.')
    target[target_key] = value


def _adopt_top_level(opt):
    """Real-ESRGAN's top-level degradation keys -> ``realesrgan``, ``gt_size`` -> ``datasets.train.gt_size``."""
    # the keys of the section srddgan's Real-ESRGAN data set is degraded by, brought by the registry
    section = DATASET_REGISTRY.get(SRDDGAN_REALESRGAN_DATASET).degradation_section
    degradation = [key for key in section.rules if key in opt]
    if degradation:
        if not isinstance(opt.get('realesrgan'), dict):
            opt['realesrgan'] = dict(opt.get('realesrgan') or {})
        for key in degradation:
            _move(opt, key, opt['realesrgan'], key, f'realesrgan.{key}')
    train_set = (opt.get('datasets') or {}).get('train')
    if 'gt_size' in opt and isinstance(train_set, dict):
        _move(opt, 'gt_size', train_set, 'gt_size', 'datasets.train.gt_size')


def _adopt_datasets(opt):
    """``type: RealESRGANDataset`` -> ``SRDDGANRealESRGANDataset``; ``use_shuffle`` dropped (BasicSR never reads it)."""
    for dataset_opt in (opt.get('datasets') or {}).values():
        if isinstance(dataset_opt, dict):
            dataset_opt.pop('use_shuffle', None)
            if dataset_opt.get('type') == REALESRGAN_DATASET:
                dataset_opt['type'] = SRDDGAN_REALESRGAN_DATASET


def content_style_of(perceptual_opt):
    """BasicSR's ``PerceptualLoss`` options (Real-ESRGAN's ``perceptual_opt``) as ``ContentStyleLoss`` options.

    Args:
        perceptual_opt (dict): ``type: PerceptualLoss`` and its keys.

    Returns:
        dict: The ``content_style_opt``.
    """
    known = {'type', 'criterion', 'range_norm', *PERCEPTUAL_KEYS}
    unknown = sorted(set(perceptual_opt) - known)
    if perceptual_opt.get('type') != 'PerceptualLoss' or unknown:
        raise OptionError(f'train.perceptual_opt: srddgan reads BasicSR\'s PerceptualLoss and its keys '
                          f'({", ".join(sorted(known))}){f", not {unknown[0]}" if unknown else ""}: write '
                          'train.content_style_opt with type: ContentStyleLoss instead.')
    criterion = perceptual_opt.get('criterion', 'l1')
    if criterion not in CRITERIA:
        raise OptionError(f'train.perceptual_opt.criterion: {criterion!r} has no ContentStyleLoss counterpart: write '
                          f'criterion: l1 or l2, or train.content_style_opt with content_distance: mse|rms|printed.')
    if perceptual_opt.get('range_norm', False):
        raise OptionError('train.perceptual_opt.range_norm: true maps [-1, 1] images to [0, 1], but Real-ESRGAN\'s '
                          'images are in [0, 1] already: write range_norm: false (srddgan maps its [-1, 1] images).')
    content_style = {'type': 'ContentStyleLoss', 'content_distance': CRITERIA[criterion], 'range_norm': True,
                     'content_weight': 1.0, 'style_weight': 0.0}  # PerceptualLoss's defaults
    content_style.update({PERCEPTUAL_KEYS[key]: value for key, value in perceptual_opt.items()
                          if key in PERCEPTUAL_KEYS})
    return content_style


def gan_weight_of(gan_opt):
    """Real-ESRGAN's ``gan_opt`` (BasicSR's ``GANLoss``) as srddgan's ``gan_weight``: its ``loss_weight``, for the
    vanilla GAN srddgan's non-saturating softplus losses are.

    Args:
        gan_opt (dict): ``type: GANLoss``, ``gan_type``, the labels, ``loss_weight``.

    Returns:
        float: The weight of G's adversarial loss.
    """
    expected = {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0}
    for key, value in gan_opt.items():
        if key != 'loss_weight' and (key not in expected or expected[key] != value):
            raise OptionError(f'train.gan_opt.{key}: {value!r}: SRDDGAN trains with the vanilla GAN loss (softplus, '
                              'labels 1 and 0); remove gan_opt and write train.gan_weight: <its loss_weight>.')
    return gan_opt.get('loss_weight', 1.0)


def _adopt_train(train):
    """``perceptual_opt``, ``gan_opt``, ``net_d_iters``, ``net_d_init_iters`` -> srddgan's train keys."""
    if train.get('perceptual_opt') is not None:
        train['perceptual_opt'] = content_style_of(train['perceptual_opt'])
        _move(train, 'perceptual_opt', train, 'content_style_opt', 'train.content_style_opt')
    else:
        train.pop('perceptual_opt', None)
    if train.get('gan_opt') is not None:
        train['gan_opt'] = gan_weight_of(train['gan_opt'])
        _move(train, 'gan_opt', train, 'gan_weight', 'train.gan_weight')
    if 'net_d_iters' in train:
        _move(train, 'net_d_iters', train, 'd_steps_per_g_step', 'train.d_steps_per_g_step')
    if train.get('net_d_init_iters', 0) not in (0, None):
        raise OptionError(f'train.net_d_init_iters = {train["net_d_init_iters"]}: SRDDGAN trains G from the first '
                          'iteration (no discriminator warm-up): set net_d_init_iters: 0 or remove it.')
    train.pop('net_d_init_iters', None)


def adopt_realesrgan_keys(opt):
    """Rewrite Real-ESRGAN's keys of an option dict into srddgan's sections, in place (see the module docstring).
    Files without them are unchanged; applying it twice changes nothing more.

    Args:
        opt (dict): The option file (raw, or as BasicSR parsed it).

    Returns:
        dict: ``opt``.
    """
    if not isinstance(opt, dict):
        return opt
    _adopt_top_level(opt)
    _adopt_datasets(opt)
    if isinstance(opt.get('train'), dict):
        _adopt_train(opt['train'])
    return opt
