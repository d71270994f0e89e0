"""Fixes for BasicSR 1.4.2 (the PyPI release) on today's stack: torch 2.14, torchvision 0.29, CPU-only machines.

Only repairs live here: every fix says what breaks without it, and each has a test in ``tests/test_compat.py`` that
fails when the fix is not applied. ``apply()`` is idempotent and runs when ``srddgan_arch`` is imported, before
anything else imports ``basicsr``. What srddgan adds to BasicSR lives in its own models (``models/``); the one other
change of BasicSR, the resumable train sampler, is in ``utils/training_state.py``.
"""
import datetime
import os
import subprocess
import sys
import types
import warnings
from os import path as osp

import torch

from srddgan_arch.utils.img_process_util import filter2D

BASICSR_VERSION = '1.4.2'
_applied = False


def _alias_functional_tensor():
    """``basicsr.data.degradations`` imports ``torchvision.transforms.functional_tensor``, removed in torchvision 0.17.

    Without it ``import basicsr`` raises ModuleNotFoundError.
    """
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return
    try:
        __import__(name)
    except ImportError:
        from torchvision.transforms import functional
        alias = types.ModuleType(name)
        alias.rgb_to_grayscale = functional.rgb_to_grayscale
        sys.modules[name] = alias


def normalise_launcher_argv(argv):
    """Map ``--local-rank=N`` (``torch.distributed.launch``) to BasicSR's ``--local_rank N``.

    Args:
        argv (list[str]): Command line arguments without the program name.

    Returns:
        list[str]: The arguments with every ``--local-rank`` spelt ``--local_rank``.
    """
    return [arg.replace('--local-rank', '--local_rank', 1) if arg.startswith('--local-rank') else arg for arg in argv]


def default_dist_backend():
    """nccl where CUDA is usable, gloo otherwise (BasicSR always asks for nccl, which has no CPU support)."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def _slurm_environment(port=None):
    """Export the torch.distributed environment variables from the SLURM ones (as BasicSR does, minus CUDA)."""
    node_list = os.environ['SLURM_NODELIST']
    num_local = max(torch.cuda.device_count(), 1)
    os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ['MASTER_PORT'] = str(port) if port is not None else os.environ.get('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = str(int(os.environ['SLURM_PROCID']) % num_local)


def process_group_timeout(dist_params):
    """``dist_params.timeout`` (seconds) as the ``timeout`` of ``init_process_group`` / ``new_group``.

    Args:
        dist_params (dict | None): The ``dist_params`` options.

    Returns:
        datetime.timedelta | None: The timeout; None: torch's default (10 minutes for nccl, 30 for gloo).
    """
    seconds = (dist_params or {}).get('timeout')
    return None if seconds is None else datetime.timedelta(seconds=seconds)


def init_dist(launcher, backend=None, port=None, timeout=None, **kwargs):
    """Initialise torch.distributed for the ``pytorch`` (torchrun) and ``slurm`` launchers, on CPU or CUDA.

    BasicSR's version computes ``RANK % torch.cuda.device_count()`` (a modulo by zero without GPUs) and ignores
    ``dist_params`` for the pytorch launcher, always using nccl with its 10-minute timeout (rank 0 validating a
    large set while the others wait in a collective then kills the run).

    Args:
        launcher (str): 'pytorch' or 'slurm'.
        backend (str | None): torch.distributed backend. Default: nccl with CUDA, gloo without.
        port (int | None): Master port for slurm. Default: ``MASTER_PORT`` or 29500.
        timeout (float | None): Seconds a collective waits for the other ranks (``dist_params.timeout``).
            Default: torch's (10 minutes for nccl, 30 for gloo).
    """
    if launcher == 'slurm':
        _slurm_environment(port)
    elif launcher != 'pytorch':
        raise ValueError(f'Invalid launcher type: {launcher!r}; expected none, pytorch or slurm.')
    backend = backend or default_dist_backend()
    if backend == 'nccl':
        local_rank = int(os.environ.get('LOCAL_RANK', os.environ['RANK']))
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    if timeout is not None:
        kwargs['timeout'] = process_group_timeout({'timeout': timeout})
    torch.distributed.init_process_group(backend=backend, **kwargs)


def parse_basicsr_options(root_path, is_train=True, dist_params=None):
    """BasicSR's ``parse_options`` with the launcher, backend and ``val.suffix`` fixes:

    - ``--local-rank=N`` (``torch.distributed.launch``) is accepted;
    - the pytorch launcher honours ``dist_params.backend`` (gloo by default on CPU-only machines) and
      ``dist_params.timeout`` (BasicSR reads ``dist_params`` for slurm only);
    - ``val.suffix`` defaults to None (``SRModel.nondist_validation`` reads it unguarded: KeyError in test.py), and
      ``val.save_img`` to false (both pipelines read it unguarded).

    Args:
        root_path (str): The experiment root.
        is_train (bool): Options of a training run. Default: True.
        dist_params (dict | None): The option file's ``dist_params``. Default: None.

    Returns:
        tuple[dict, Namespace]: The options and the command-line arguments.
    """
    from basicsr.utils import options as basicsr_options

    from srddgan_arch.models.sample_validation import ValOptions
    sys.argv[1:] = normalise_launcher_argv(sys.argv[1:])
    known = {key: (dist_params or {}).get(key) for key in ('backend', 'timeout')}
    original_init_dist = basicsr_options.init_dist
    basicsr_options.init_dist = lambda launcher, **kwargs: init_dist(launcher, **{**known, **kwargs})
    try:
        opt, args = basicsr_options.parse_options(root_path, is_train=is_train)
    finally:
        basicsr_options.init_dist = original_init_dist
    if opt.get('val') is not None:
        for key in ('suffix', 'save_img'):
            opt['val'].setdefault(key, getattr(ValOptions, key))
    return opt, args


def load_resume_state(opt):
    """BasicSR's ``load_resume_state`` without its CUDA assumption, picking only complete states.

    BasicSR maps the state to ``torch.cuda.current_device()`` (fails on CPU-only machines), looks for
    ``experiments/<name>`` relative to the working directory instead of the experiment root, and loads the newest
    state even when it is truncated.

    Args:
        opt (dict): Parsed options (``auto_resume``, ``root_path``, ``name``, ``path.resume_state``).

    Returns:
        dict | None: The training state to resume from.
    """
    from basicsr.utils.misc import check_resume

    from srddgan_arch.options import OptionError
    from srddgan_arch.utils.training_state import latest_resume_state, load_training_state
    device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() else torch.device('cpu')
    if opt['auto_resume']:
        state_dir = osp.join(opt['root_path'], 'experiments', opt['name'], 'training_states')
        resume_path, resume_state = latest_resume_state(state_dir, device)
        if resume_path is not None:
            opt['path']['resume_state'] = resume_path
    else:
        resume_path = opt['path'].get('resume_state')
        if not resume_path:
            return None
        resume_state = load_training_state(resume_path, device)
        if resume_state is None:
            raise OptionError(f'path.resume_state: {resume_path} is missing or not a complete training state.')
    if resume_state is None:
        return None
    check_resume(opt, resume_state['iter'])
    return resume_state


def model_to_device(self, net):
    """Move ``net`` to the model's device and wrap it for DDP/DP; DDP gets ``device_ids`` only on CUDA."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel
    net = net.to(self.device)
    if self.opt['dist']:
        device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
        net = DistributedDataParallel(
            net, device_ids=device_ids, find_unused_parameters=self.opt.get('find_unused_parameters', False))
    elif self.opt['num_gpu'] > 1:
        net = DataParallel(net)
    return net


def _realesrgan_init(self, opt):
    """``RealESRGANModel/RealESRNetModel.__init__`` without ``.cuda()``: the JPEG and USM helpers follow the device."""
    from basicsr.models.sr_model import SRModel
    from basicsr.utils import DiffJPEG, USMSharp
    SRModel.__init__(self, opt)
    self.jpeger = DiffJPEG(differentiable=False).to(self.device)
    self.usm_sharpener = USMSharp().to(self.device)
    self.queue_size = opt.get('queue_size', 180)


def _queue_on_device(dequeue_and_enqueue):
    """Allocate the training-pair pool on ``self.device`` before BasicSR allocates it with ``.cuda()``."""
    def wrapper(self):
        if not hasattr(self, 'queue_lr'):
            b, c, h, w = self.lq.size()
            if self.queue_size % b:
                raise ValueError(f'queue_size {self.queue_size} must be divisible by the batch size {b}.')
            self.queue_lr = torch.zeros(self.queue_size, c, h, w, device=self.device)
            self.queue_gt = torch.zeros(self.queue_size, *self.gt.shape[1:], device=self.device)
            self.queue_ptr = 0
        return dequeue_and_enqueue(self)
    return wrapper


def _train_to_total_iter(create_train_val_dataloader):
    """``create_train_val_dataloader`` whose planned epochs reach ``train.total_iter``: BasicSR counts an epoch's
    iterations with the partial batch its loader drops, so a small training set stopped short with "End of training"
    (3 images, batch 2: 6 of 10 iterations). ``options.iterations.epochs_for_total_iter`` raises them, or refuses a
    training set without a full batch."""
    from srddgan_arch.options.iterations import epochs_for_total_iter

    def wrapper(opt, logger):
        train_loader, train_sampler, val_loaders, total_epochs, total_iters = create_train_val_dataloader(opt, logger)
        total_epochs = epochs_for_total_iter(opt, len(train_loader.dataset), total_epochs, total_iters)
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters
    return wrapper


def _name_bad_paired_images():
    """``type: PairedImageDataset`` builds srddgan's subclass ``SRDDGANPairedDataset`` (same options).

    BasicSR's ``__getitem__`` passes an undecodable file on as None: a corrupt training image stops the run with
    ``'NoneType' object has no attribute 'astype'``, without its path and with no way to skip it. The subclass names
    the file and honours ``skip_bad_images``; mapping the name fixes every option file that uses BasicSR's data set,
    ours and the users'.
    """
    from basicsr.utils.registry import DATASET_REGISTRY

    from srddgan_arch.data.paired_dataset import SRDDGANPairedDataset
    DATASET_REGISTRY._obj_map['PairedImageDataset'] = SRDDGANPairedDataset


def _workers_survive_stop_signals():
    """Data-loader workers ignore SIGTERM and SIGUSR1 (``preemption.ignore_stop_signals``), then seed as BasicSR does.

    Clusters (SLURM, systemd, Kubernetes) signal the whole process group; PyTorch's workers take SIGTERM's default
    action, so the run died with "DataLoader worker ... killed by signal: Terminated" before its main process could
    save. BasicSR's training loader always has its ``worker_init_fn`` (the seed is set by then), the one place to
    change the workers' handlers after PyTorch installed its own.
    """
    import basicsr.data

    from srddgan_arch.utils.preemption import ignore_stop_signals
    seed_worker = basicsr.data.worker_init_fn

    def worker_init_fn(worker_id, num_workers, rank, seed):
        ignore_stop_signals()
        seed_worker(worker_id, num_workers, rank, seed)

    basicsr.data.worker_init_fn = worker_init_fn


def apply():
    """Apply every fix once. Safe to call again."""
    global _applied
    if _applied:
        return
    _alias_functional_tensor()
    import basicsr.test
    import basicsr.train
    from basicsr.models import base_model, realesrgan_model, realesrnet_model
    from basicsr.utils import img_process_util

    if basicsr.__version__ != BASICSR_VERSION:
        warnings.warn(f'srddgan patches BasicSR {BASICSR_VERSION}; found {basicsr.__version__}. Install '
                      f'basicsr=={BASICSR_VERSION} (constraints.txt).', stacklevel=2)
    basicsr.train.load_resume_state = load_resume_state
    basicsr.train.create_train_val_dataloader = _train_to_total_iter(basicsr.train.create_train_val_dataloader)
    base_model.BaseModel.model_to_device = model_to_device
    for module in (img_process_util, realesrgan_model, realesrnet_model):
        module.filter2D = filter2D
    for model_class in (realesrgan_model.RealESRGANModel, realesrnet_model.RealESRNetModel):
        model_class.__init__ = _realesrgan_init
        model_class._dequeue_and_enqueue = _queue_on_device(model_class._dequeue_and_enqueue)
    _name_bad_paired_images()
    _workers_survive_stop_signals()
    _applied = True
