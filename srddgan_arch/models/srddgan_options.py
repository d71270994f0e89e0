"""SRDDGANModel's sections of an option dict: its ``train`` section (``TrainOptions``), and all it reads checked and
typed (``parse_model_options``), by the run checks and when the model is built.

``parse_model_options`` reads ``diffusion``, ``train``, ``val``, ``lr_consistency`` and ``path`` through their
sections (``DiffusionOptions`` in ``diffusion.py``, ``TrainOptions`` here, ``ValOptions`` in ``sample_validation.py``,
``LRConsistencyOptions`` in ``lr_consistency.py``, ``PathOptions`` in ``options/pipeline_sections.py``),
``network_g`` / ``network_d`` / the losses / the optimisers against what they build (``options/signatures.py``), and
the sizes and scales the networks need.
"""
import functools
import inspect
from typing import NamedTuple

from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY

from srddgan_arch.diffusion import DiffusionOptions
from srddgan_arch.lr_consistency import LRConsistencyOptions
from srddgan_arch.models.sample_validation import ValOptions, parse_val
from srddgan_arch.options.parse_once import parse_once, parsed
from srddgan_arch.options.pipeline_sections import PathOptions
from srddgan_arch.options.ranges import POSITIVE_INT
from srddgan_arch.options.schema import REQUIRED, OptionError, Rule, Section, option, section
from srddgan_arch.options.signatures import (
    check_built_sections,
    check_optimizer,
    check_registered_section,
    constructor_parameters,
)

# the keys of an option dict that parse_model_options reads
MODEL_KEYS = ('scale', 'is_train', 'network_g', 'network_d', 'datasets', 'diffusion', 'train', 'val', 'lr_consistency',
              'path')
SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')


@section('train')
class TrainOptions(Section):
    """Training settings read by SRDDGANModel and BasicSR's train pipeline."""

    total_iter: int = option(REQUIRED, 'Training iterations.', gt=0)
    warmup_iter: int = option(-1, 'Iterations of linear learning-rate warm-up (-1: none).', ge=-1)
    total_batch: int | None = option(None, 'Batch over all processes; sets datasets.train.batch_size_per_gpu to '
                                     'total_batch / number of processes.', gt=0)
    optim_g: dict = option(REQUIRED, "G's optimiser: type (a torch.optim class, e.g. AdamW), lr and its arguments.")
    optim_d: dict = option(REQUIRED, "D's optimiser, like optim_g.")
    scheduler: dict | None = option(None, f'Learning-rate scheduler: type (one of {", ".join(SCHEDULERS)}) and its '
                                    'arguments; null: constant rates.')
    ema_decay: float = option(0.0, 'Decay of the EMA copy of G (net_g_ema); 0: no EMA.', ge=0, lt=1)
    gan_weight: float = option(1.0, "alpha: weight of G's adversarial loss (Table 1).", ge=0)
    content_style_opt: dict | None = option(None, 'Content and style loss (beta, eta: ContentStyleLoss).',
                                            builds=LOSS_REGISTRY)
    pixel_opt: dict | None = option(None, 'Pixel loss on the predicted y0 (e.g. L1Loss); null: none.',
                                    builds=LOSS_REGISTRY)
    r1_gamma: float = option(0.0, 'Weight of the R1 penalty on the real y_{t-1} (DDGAN); 0: none.', ge=0)
    lazy_reg: int = option(1, 'R1 every lazy_reg D steps.', gt=0)
    d_steps_per_g_step: int = option(1, 'D steps per G step.', gt=0)
    share_g_forward: bool = option(False, "The G step reuses the D step's t, y_t, z and G output (one G forward "
                                   'fewer per iteration, as BasicSR\'s ESRGAN; not Algorithm 1).')
    grad_clip: float | None = option(None, 'Maximum gradient norm of each network; null: no clipping.', gt=0)
    use_amp: bool = option(False, 'Mixed precision (autocast in amp_dtype); on the CPU too, slower than float32 (for '
                           'tests).')
    amp_dtype: str = option('bfloat16', 'Autocast type (bfloat16 recommended); float16 adds gradient scalers, whose '
                            'skipped steps count in nonfinite_skipped.',
                            choices=('bfloat16', 'float16'))
    compile: bool = option(False, "torch.compile G for training (D stays eager: compiled graphs have no double "
                           "backward, which R1 needs; the EMA copy that samples stays eager).")
    max_nonfinite_steps: int = option(10, 'Stop after this many iterations in a row with a non-finite loss or '
                                      'gradient (0: never stop).', ge=0)



class ModelSettings(NamedTuple):
    """The typed sections of an SRDDGAN option dict.

    Args:
        diffusion (DiffusionOptions): The schedule's settings.
        train (TrainOptions | None): Training settings; None for a test run.
        val (ValOptions): Validation settings.
        lr_consistency (LRConsistencyOptions): The sampler's LR-consistency settings.
        path (PathOptions): The weights to load and the output folders.
    """

    diffusion: DiffusionOptions
    train: TrainOptions | None
    val: ValOptions
    lr_consistency: LRConsistencyOptions
    path: PathOptions


def _parse_train(train_opt):
    """``train`` as TrainOptions, with its optimisers, losses and scheduler checked."""
    train = TrainOptions.from_dict(train_opt)
    check_optimizer('train.optim_g', train.optim_g)
    check_optimizer('train.optim_d', train.optim_d)
    check_built_sections(train, 'train')
    if train.scheduler and train.scheduler.get('type') not in SCHEDULERS:
        raise OptionError(f'train.scheduler.type must be one of {", ".join(SCHEDULERS)}, '
                          f'got {train.scheduler.get("type")!r}.')
    return train


def _generator_setting(opt, key):
    """A network_g setting as used: the YAML value or the constructor default."""
    if key in opt['network_g']:
        return opt['network_g'][key]
    params = constructor_parameters(ARCH_REGISTRY.get(opt['network_g']['type'])) or {}
    default = params.get(key, inspect.Parameter.empty)
    return None if default is inspect.Parameter.empty else default


def _check_sizes(opt):
    """Scale of the options vs the networks'; HR crop size vs the scale and the U-Net depth."""
    scale, g_scale = opt.get('scale'), _generator_setting(opt, 'scale')
    Rule(int, nullable=True, gt=0).check('scale', scale)
    if scale is not None and g_scale is not None and scale != g_scale:
        raise OptionError(f'scale is {scale} but network_g.scale is {g_scale}: they must be equal.')
    d_scale = (opt.get('network_d') or {}).get('scale')
    if scale is not None and d_scale is not None and scale != d_scale:
        raise OptionError(f'scale is {scale} but network_d.scale is {d_scale}: they must be equal.')
    ch_mult = _generator_setting(opt, 'ch_mult')
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        gt_size = dataset_opt.get('gt_size')
        if gt_size is None:
            continue
        key = f'datasets.{phase}.gt_size'
        POSITIVE_INT.check(key, gt_size)
        if scale and gt_size % scale:
            raise OptionError(f'{key} = {gt_size} is not divisible by scale {scale}: the LR crop would not be whole.')
        factor = 2**(len(ch_mult) - 1) if ch_mult else 1
        if gt_size % factor:
            raise OptionError(f'{key} = {gt_size} must be divisible by {factor} = 2**(len(network_g.ch_mult) - 1), '
                              f'the U-Net downsamples {len(ch_mult) - 1} times.')


def _check_frozen_encoder(opt, path):
    """A frozen LR encoder needs pretrained weights from somewhere."""
    if (opt.get('is_train') and _generator_setting(opt, 'freeze_encoder')
            and not _generator_setting(opt, 'encoder_pretrained_path') and not path.pretrain_network_g
            and not path.resume_state):
        raise OptionError('network_g.freeze_encoder is true but no weights reach the encoder: set network_g.'
                          'encoder_pretrained_path (a BasicSR RRDBNet checkpoint) or path.pretrain_network_g.')


def parse_model_options(opt):
    """Check the model sections of an SRDDGAN option dict and return its typed settings; raise
    :class:`OptionError` (a ValueError) on the first mistake: unknown or misspelt keys of network_g / network_d /
    diffusion / train / val / lr_consistency / path, wrong value types or bounds, a gt_size not divisible by the scale
    or by 2**(levels - 1), a scale different from the networks', unusable metrics, a frozen encoder without weights.

    Args:
        opt (dict): The options as BasicSR's ``parse_options`` returns them.

    Returns:
        ModelSettings: The diffusion, train (None unless training), val, lr_consistency and path settings.
    """
    # the run checks parse these before BasicSR builds the model from a deep copy of the same options: the model takes
    # that parse while they are unchanged (a resume changes path: parsed again); the parse reads nothing else of ``opt``
    sections = {key: opt.get(key) for key in MODEL_KEYS}
    return parsed(parse_model_options, sections, functools.partial(_parse_sections, sections))


def _parse_sections(opt):
    """:func:`parse_model_options` of the model's sections (``MODEL_KEYS``) alone."""
    check_registered_section('network_g', opt.get('network_g'), ARCH_REGISTRY)
    diffusion = DiffusionOptions.from_dict(opt.get('diffusion'))
    train = None
    if opt.get('is_train'):
        check_registered_section('network_d', opt.get('network_d'), ARCH_REGISTRY)
        train = _parse_train(opt.get('train'))
    _check_sizes(opt)
    val = parse_val(opt.get('val'))
    path = parse_once(PathOptions, opt.get('path'))
    _check_frozen_encoder(opt, path)
    consistency = LRConsistencyOptions.from_dict(opt.get('lr_consistency'))
    if val.color_fix != 'none' and consistency.downsampler != 'none':
        raise OptionError(f'val.color_fix {val.color_fix} is for samplers without the LR projection, and '
                          f'lr_consistency.downsampler is {consistency.downsampler}: set one of them to none.')
    return ModelSettings(diffusion, train, val, consistency, path)
