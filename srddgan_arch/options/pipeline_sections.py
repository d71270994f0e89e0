"""The sections BasicSR's train and test pipelines read, each key once: the top level of an option file
(``RunOptions``), a data set's data loader keys (``DatasetOptions``, which every data set's own section extends),
``path``, ``logger``, ``dist_params``. srddgan's run checks (``runs.py``) and its models read them too.

The sections of srddgan's components sit with the class that reads them: ``diffusion`` in ``diffusion.py``,
``lr_consistency`` in ``lr_consistency.py``, ``train`` with the model (``models/srddgan_options.py``), ``val`` with
validation (``models/sample_validation.py``), a data set's with its class (``options_section``). A new key is one line
in its section, e.g. in ``ValOptions``::

    lr_consistency: int = option(0, 'Back-projection steps on each predicted y0 (0: off).', ge=0)

Sections built by a constructor (``network_g``, ``network_d``, losses, optimisers, metrics) are checked against the
constructor's keyword arguments instead (``signatures.py``).
"""
from srddgan_arch.options.schema import REQUIRED, OptionError, Section, option, section


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
