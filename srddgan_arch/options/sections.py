"""The option sections SRDDGANModel reads, each key once: type (the annotation), default, bounds and meaning.

A new key is one line in its section, e.g. in ``ValOptions``::

    lr_consistency: int = option(0, 'Back-projection steps on each predicted y0 (0: off).', ge=0)

The model then reads it as ``self.val_settings.lr_consistency``; option files are checked against it. Sections
built by a constructor (``network_g``, ``network_d``, losses, optimisers, metrics) are checked against the
constructor's keyword arguments instead (``signatures.py``): a new constructor argument is a new key, and a new loss
term is one field of ``TrainOptions`` declared with ``builds=LOSS_REGISTRY``. A data set's section lives with its
class (``options_section``, e.g. ``data/paired_dataset.py``).
"""
import functools

from basicsr.utils.registry import LOSS_REGISTRY

from srddgan_arch.color_fix import COLOR_FIXES
from srddgan_arch.lr_consistency import DOWNSAMPLERS, project_to_lr
from srddgan_arch.options.schema import REQUIRED, OptionError, Section, option, section

SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')


@section('diffusion')
class DiffusionOptions(Section):
    """The diffusion schedule (keyword arguments of ``DiffusionSchedule``)."""

    num_timesteps: int = option(4, 'Number of denoising steps T (paper Table 1).', ge=1)
    beta_min: float = option(0.1, "beta_min of DDGAN's variance-preserving schedule.", ge=0)
    beta_max: float = option(20.0, "beta_max of DDGAN's variance-preserving schedule (above beta_min).")

    def validate(self, key):
        if not self.beta_min < self.beta_max:
            raise OptionError(f'{key("beta_min")} must be smaller than {key("beta_max")}, got beta_min='
                              f'{self.beta_min}, beta_max={self.beta_max}.')


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


@section('val')
class ValOptions(Section):
    """Validation and test settings read by SRDDGANModel and BasicSR's pipelines."""

    val_freq: float = option(None, 'Validate every val_freq training iterations (BasicSR).', gt=0)
    save_img: bool = option(False, 'Save the SR images.')
    suffix: str | None = option(None, 'Suffix of saved test images; null: the experiment name.')
    pbar: bool = option(False, 'Show a progress bar.')
    num_samples: int = option(1, 'SR samples per LR image (one z each), drawn in one batch.', gt=0)
    seed: int | None = option(None, 'Seed of the sampling noise: the same seed gives the same samples.', ge=0)
    reduce: str = option('none', "'mean': the metrics score one image per LR image, the mean of its num_samples "
                         "samples (closer to the posterior mean: higher PSNR, smoother); 'none': every sample.",
                         choices=('none', 'mean'))
    color_fix: str = option('none', "Colours of every sample from the upsampled LR (srddgan-infer's --color_fix): "
                            "'wavelet' or 'adain'; for samplers without the LR projection.", choices=COLOR_FIXES)
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

    def projector(self, scale):
        """The sampler's ``project`` (``diffusion.sample``), the one place it is built from these settings.

        Args:
            scale (int): The SR scale.

        Returns:
            callable | None: ``project(y0, lq, value_range=(-1, 1)) -> y0``, the projection onto the images whose
            downscale is ``lq`` (``iterations`` of them, clipped in between); None for 'none'.
        """
        if self.downsampler == 'none':
            return None
        return functools.partial(project_to_lr, scale=scale, iterations=self.iterations)


@section('')
class RunOptions(Section):
    """The top level of an option file of srddgan's models (``SRDDGANModel``, ``SRBaselineModel``)."""

    name: str = option(REQUIRED, 'Experiment name: experiments/<name>, results/<name>.')
    model_type: str = option(REQUIRED, 'The registered model, e.g. SRDDGANModel.')
    scale: int | None = option(None, 'Upscaling factor; BasicSR copies it into every data set.', gt=0)
    num_gpu: int = option(REQUIRED, 'GPUs per process (auto: all), 0 for the CPU.', ge=0)
    manual_seed: int | None = option(None, 'Seed of the random generators; null: BasicSR draws one.', ge=0,
                                     le=2**32 - 1)
    find_unused_parameters: bool = option(False, "DistributedDataParallel's find_unused_parameters.")
    datasets: dict = option(REQUIRED, 'Data sets by phase (train, val*, test*), see DatasetOptions.')
    network_g: dict = option(REQUIRED, "G's type and its constructor's keyword arguments.")
    network_d: dict | None = option(None, "D's type and its constructor's keyword arguments (training).")
    path: dict = option(REQUIRED, 'Weights to load and output folders, see PathOptions.')
    diffusion: dict | None = option(None, 'The diffusion schedule, see DiffusionOptions.')
    lr_consistency: dict | None = option(None, 'LR-consistent sampling, see LRConsistencyOptions.')
    realesrgan: dict | None = option(None, "Real-ESRGAN's degradation of training batches (selects that pipeline), "
                                     'see RealESRGANOptions.')
    train: dict | None = option(None, 'Training settings, see TrainOptions.')
    val: dict | None = option(None, 'Validation settings, see ValOptions.')
    logger: dict | None = option(None, 'Log and checkpoint frequencies (training), see LoggerOptions.')
    dist_params: dict | None = option(None, 'torch.distributed settings, see DistOptions.')
    is_train: bool = option(False, 'Set by BasicSR: a training run.')
    dist: bool = option(False, 'Set by BasicSR: a distributed run.')
    rank: int = option(0, 'Set by BasicSR: rank of this process.', ge=0)
    world_size: int = option(1, 'Set by BasicSR: number of processes.', gt=0)
    auto_resume: bool = option(False, 'Set by BasicSR: --auto_resume.')
    root_path: str | None = option(None, 'Set by BasicSR: the experiment root.')


@section('datasets.<phase>')
class DatasetOptions(Section):
    """A data set: its type and the keys of BasicSR's data loader (every data set type)."""

    name: str = option(REQUIRED, 'Name in logs and result folders.')
    type: str = option(REQUIRED, 'The registered data set, e.g. PairedImageDataset.')
    phase: str | None = option(None, 'Set by BasicSR: train, val or test, from the phase key.', inherit=True)
    scale: int | None = option(None, 'Set by BasicSR from the top-level scale.', inherit=True, gt=0)
    io_backend: dict = option(REQUIRED, 'File access: {type: disk} or {type: lmdb}.')
    batch_size_per_gpu: int | None = option(None, 'Training batch per process (derived from train.total_batch).',
                                            gt=0)
    num_worker_per_gpu: int | None = option(None, 'Data loader workers per process (training).', ge=0)
    dataset_enlarge_ratio: float = option(1, 'Times each training image is drawn per epoch.', gt=0)
    prefetch_mode: str | None = option(None, 'Prefetching: null, cpu or cuda.', choices=('cpu', 'cuda'))
    num_prefetch_queue: int = option(1, 'Batches prefetched with prefetch_mode: cpu.', gt=0)
    pin_memory: bool = option(False, "The data loader's pin_memory (prefetch_mode: cuda needs true).")
    persistent_workers: bool = option(False, "The data loader's persistent_workers.")

    def require_for_training(self, key, *names):
        """Keys that training reads unguarded (a KeyError after the data sets were built) must be given.

        Args:
            key (callable): ``key('x')`` is key x's name in messages.
            names (str): The keys.
        """
        for name in names if self.phase == 'train' else ():
            if getattr(self, name) is None:
                raise OptionError(f'{key(name)} is missing: training reads it.')


@section('path')
class PathOptions(Section):
    """Weights to start from and, set by BasicSR, the output folders."""

    pretrain_network_g: str | None = option(None, "G's weights to load (a BasicSR checkpoint).")
    param_key_g: str = option('params', 'Key of the weights in pretrain_network_g (params_ema: the EMA copy).')
    strict_load_g: bool = option(True, 'Every weight of G must be in the file.')
    pretrain_network_d: str | None = option(None, "D's weights to load.")
    param_key_d: str = option('params', 'Key of the weights in pretrain_network_d.')
    strict_load_d: bool = option(True, 'Every weight of D must be in the file.')
    resume_state: str | None = option(None, 'Training state to resume from (--auto_resume finds the newest).')
    ignore_resume_networks: list | None = option(None, 'Networks (e.g. network_d) a resume does not reload.')
    experiments_root: str | None = option(None, 'Set by BasicSR: experiments/<name>.')
    models: str | None = option(None, 'Set by BasicSR: the checkpoint folder.')
    training_states: str | None = option(None, 'Set by BasicSR: the training state folder.')
    log: str | None = option(None, 'Set by BasicSR: the log folder.')
    visualization: str | None = option(None, 'Set by BasicSR: the folder of saved SR images.')
    results_root: str | None = option(None, 'Set by BasicSR: results/<name> (testing).')


@section('logger')
class LoggerOptions(Section):
    """Logging and checkpoints of a training run (BasicSR reads the required keys unguarded)."""

    print_freq: float = option(REQUIRED, 'Log every print_freq iterations.', gt=0)
    save_checkpoint_freq: float = option(REQUIRED, 'Save networks and training state every this many iterations.',
                                         gt=0)
    use_tb_logger: bool = option(REQUIRED, 'Write a tensorboard log to tb_logger/<name>.')
    wandb: dict | None = option(None, 'Weights & Biases: project (null: off) and resume_id; needs use_tb_logger.')


@section('dist_params')
class DistOptions(Section):
    """torch.distributed settings."""

    backend: str | None = option(None, 'nccl, gloo, mpi or ucc; null: nccl with CUDA, else gloo.',
                                 choices=('nccl', 'gloo', 'mpi', 'ucc'))
    port: int | None = option(None, 'Master port for the slurm launcher.', gt=0, le=65535)
    timeout: float | None = option(None, 'Seconds a rank waits in a collective for the others before the run fails '
                                   '(init_process_group); longer than rank 0 validates while the others wait. null: '
                                   "torch's 10 minutes for nccl, 30 for gloo.", gt=0, le=7 * 24 * 3600)


@section('logger.wandb')
class WandbOptions(Section):
    """Weights & Biases, which syncs the tensorboard log."""

    project: str | None = option(None, 'The wandb project; null: no wandb.')
    resume_id: str | None = option(None, 'The run to continue.')
