"""The option sections SRDDGANModel reads, each key once: type (the annotation), default, bounds and meaning.

A new key is one line in its section, e.g. in ``ValOptions``::

    lr_consistency: int = option(0, 'Back-projection steps on each predicted y0 (0: off).', ge=0)

The model then reads it as ``self.val_settings.lr_consistency``; option files are checked against it. Sections
built by a constructor (``network_g``, ``network_d``, losses, optimisers, metrics) are checked against the
constructor's keyword arguments instead (``checks.py``): a new constructor argument is a new key.
"""
from srddgan_arch.lr_consistency import DOWNSAMPLERS
from srddgan_arch.options.schema import REQUIRED, Section, option, section

SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')


@section('diffusion')
class DiffusionOptions(Section):
    """The diffusion schedule (keyword arguments of ``DiffusionSchedule``)."""

    num_timesteps: int = option(4, 'Number of denoising steps T (paper Table 1).', ge=1)
    beta_min: float = option(0.1, "beta_min of DDGAN's variance-preserving schedule.")
    beta_max: float = option(20.0, "beta_max of DDGAN's variance-preserving schedule.")


@section('train')
class TrainOptions(Section):
    """Training settings read by SRDDGANModel and BasicSR's train pipeline."""

    total_iter: int = option(REQUIRED, 'Training iterations.', gt=0)
    warmup_iter: int = option(-1, 'Iterations of linear learning-rate warm-up (-1: none).')
    total_batch: int | None = option(None, 'Batch over all processes; sets datasets.train.batch_size_per_gpu to '
                                     'total_batch / number of processes.', gt=0)
    optim_g: dict = option(REQUIRED, "G's optimiser: type (a torch.optim class, e.g. AdamW), lr and its arguments.")
    optim_d: dict = option(REQUIRED, "D's optimiser, like optim_g.")
    scheduler: dict | None = option(None, f'Learning-rate scheduler: type (one of {", ".join(SCHEDULERS)}) and its '
                                    'arguments; null: constant rates.')
    ema_decay: float = option(0.0, 'Decay of the EMA copy of G (net_g_ema); 0: no EMA.', ge=0, lt=1)
    gan_weight: float = option(1.0, "alpha: weight of G's adversarial loss (Table 1).")
    content_style_opt: dict | None = option(None, 'Content and style loss (beta, eta: ContentStyleLoss).')
    pixel_opt: dict | None = option(None, 'Pixel loss on the predicted y0 (e.g. L1Loss); null: none.')
    r1_gamma: float = option(0.0, 'Weight of the R1 penalty on the real y_{t-1} (DDGAN); 0: none.')
    lazy_reg: int = option(1, 'R1 every lazy_reg D steps.', gt=0)
    d_steps_per_g_step: int = option(1, 'D steps per G step.', gt=0)
    grad_clip: float | None = option(None, 'Maximum gradient norm of each network; null: no clipping.', gt=0)
    use_amp: bool = option(False, 'Mixed precision (autocast) on CUDA; ignored on CPU.')
    amp_dtype: str = option('bfloat16', 'Autocast type; float16 adds gradient scalers.',
                            choices=('bfloat16', 'float16'))
    max_nonfinite_steps: int = option(10, 'Stop after this many iterations in a row with a non-finite loss or '
                                      'gradient (0: never stop).')


@section('val')
class ValOptions(Section):
    """Validation and test settings read by SRDDGANModel and BasicSR's pipelines."""

    val_freq: float = option(None, 'Validate every val_freq training iterations (BasicSR).')
    save_img: bool = option(False, 'Save the SR images.')
    suffix: str | None = option(None, 'Suffix of saved test images; null: the experiment name.')
    pbar: bool = option(False, 'Show a progress bar.')
    num_samples: int = option(1, 'SR samples per LR image (one z each), drawn in one batch.', gt=0)
    seed: int | None = option(None, 'Seed of the sampling noise: the same seed gives the same samples.')
    metrics: dict | None = option(None, 'Metric name -> options (type: a registered metric, and its arguments).')


@section('lr_consistency')
class LRConsistencyOptions(Section):
    """LR-consistent sampling (srddgan's addition to the paper's sampler, ``srddgan_arch/lr_consistency.py``): every
    predicted y0 and the final image are projected onto the images whose downscale is the LR input. Validation,
    ``test.py``, ``srddgan-infer`` and the benchmarks read it from the option file."""

    downsampler: str = option('none', "'bicubic': BasicSR's MATLAB bicubic imresize, exact for the bicubic configs; "
                              "'none': the paper's sampler.", choices=DOWNSAMPLERS)
    iterations: int = option(3, 'Projections alternated with clipping to the pixel range (more: closer to both '
                             'near saturated pixels).', gt=0)
