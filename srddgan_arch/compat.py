"""Fixes for BasicSR 1.4.2 (the PyPI release) on today's stack: torch 2.14, torchvision 0.29, CPU-only machines.

This is the only module of srddgan that touches BasicSR internals. Every fix says what breaks without it; each has a
test in ``tests/test_compat.py`` that fails when the fix is not applied. ``apply()`` is idempotent and runs when
``srddgan_arch`` is imported, before anything else imports ``basicsr``.
"""
import os
import random
import subprocess
import sys
import types
import warnings
from os import path as osp

import numpy as np
import torch

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


def init_dist(launcher, backend=None, port=None, **kwargs):
    """Initialise torch.distributed for the ``pytorch`` (torchrun) and ``slurm`` launchers, on CPU or CUDA.

    BasicSR's version computes ``RANK % torch.cuda.device_count()`` (a modulo by zero without GPUs) and ignores
    ``dist_params`` for the pytorch launcher, always using nccl.

    Args:
        launcher (str): 'pytorch' or 'slurm'.
        backend (str | None): torch.distributed backend. Default: nccl with CUDA, gloo without.
        port (int | None): Master port for slurm. Default: ``MASTER_PORT`` or 29500.
    """
    if launcher == 'slurm':
        _slurm_environment(port)
    elif launcher != 'pytorch':
        raise ValueError(f'Invalid launcher type: {launcher!r}; expected none, pytorch or slurm.')
    backend = backend or default_dist_backend()
    if backend == 'nccl':
        local_rank = int(os.environ.get('LOCAL_RANK', os.environ['RANK']))
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    torch.distributed.init_process_group(backend=backend, **kwargs)


def _read_dist_backend(argv):
    """``dist_params.backend`` of the option file named by ``-opt`` in ``argv``, or None."""
    import yaml
    if '-opt' not in argv or argv.index('-opt') + 1 >= len(argv):
        return None
    with open(argv[argv.index('-opt') + 1]) as f:
        opt = yaml.safe_load(f) or {}
    return (opt.get('dist_params') or {}).get('backend')


def parse_options(root_path, is_train=True):
    """BasicSR's ``parse_options`` with the launcher, backend and ``val.suffix`` fixes.

    - accepts ``--local-rank=N``;
    - the pytorch launcher honours ``dist_params.backend`` and defaults to gloo on CPU-only machines;
    - ``val.suffix`` defaults to None (``SRModel.nondist_validation`` reads it unguarded: KeyError in test.py);
    - then srddgan's ``prepare_run_options``: ``train.total_batch`` sets ``batch_size_per_gpu`` for the number of
      processes, and the data folders of SRDDGAN option files are checked before BasicSR builds the data sets.
    """
    from basicsr.utils import options as basicsr_options
    sys.argv[1:] = normalise_launcher_argv(sys.argv[1:])
    backend = _read_dist_backend(sys.argv[1:])
    original_init_dist = basicsr_options.init_dist
    basicsr_options.init_dist = lambda launcher, **kwargs: init_dist(launcher, **{'backend': backend, **kwargs})
    try:
        opt, args = basicsr_options.parse_options(root_path, is_train=is_train)
    finally:
        basicsr_options.init_dist = original_init_dist
    if opt.get('val') is not None:
        opt['val'].setdefault('suffix', None)
    # not a fix: srddgan's run options (train.total_batch, data folders) must be read here, the one moment between
    # parsing and BasicSR building the data sets
    from srddgan_arch.options import prepare_run_options
    prepare_run_options(opt)
    return opt, args


def atomic_torch_save(obj, path):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename: ``path`` is complete or absent.

    BasicSR writes checkpoints in place; a run killed while saving leaves a truncated file that ``--auto_resume``
    then picks.
    """
    tmp_path = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp_path, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)


def _loadable(path, map_location='cpu'):
    """The checkpoint at ``path`` loaded with ``weights_only=True``, or None when it is missing or unreadable."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # a truncated or foreign file: the caller falls back to an older one
        return None


def latest_resume_state(state_dir, map_location='cpu'):
    """The newest training state in ``state_dir`` that loads, as (path, state).

    Newest first; an unreadable state (e.g. written by a non-atomic saver and cut off) is skipped with a warning.
    Returns (None, None) when there is none.
    """
    from basicsr.utils import get_root_logger
    if not osp.isdir(state_dir):
        return None, None
    iters = sorted((int(name[:-len('.state')]) for name in os.listdir(state_dir)
                    if name.endswith('.state') and name[:-len('.state')].isdigit()), reverse=True)
    for current_iter in iters:
        path = osp.join(state_dir, f'{current_iter}.state')
        state = _loadable(path, map_location)
        if state is not None:
            return path, state
        get_root_logger().warning(f'Skipping unreadable training state {path}.')
    return None, None


def load_resume_state(opt):
    """BasicSR's ``load_resume_state`` without its CUDA assumption, picking only complete states.

    BasicSR maps the state to ``torch.cuda.current_device()`` (fails on CPU-only machines), looks for
    ``experiments/<name>`` relative to the working directory instead of the experiment root, and loads the newest
    state even when it is truncated.
    """
    from basicsr.utils.misc import check_resume
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
        resume_state = _loadable(resume_path, device)
        if resume_state is None:
            raise ValueError(f'path.resume_state: {resume_path} is missing or not a complete training state.')
    if resume_state is None:
        return None
    check_resume(opt, resume_state['iter'])
    return resume_state


def get_rng_states():
    """The python, numpy and torch (CPU and CUDA) random states, as tensors and ints (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        'python': random.getstate(),
        'numpy': [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states):
    """Restore what ``get_rng_states`` returned."""
    random.setstate(states['python'])
    kind, keys, pos, has_gauss, cached_gaussian = states['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(states['torch'].cpu())
    if states['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in states['cuda']])


def save_network(self, net, net_label, current_iter, param_key='params'):
    """BasicSR's ``save_network`` with an atomic write (see ``atomic_torch_save``)."""
    net = net if isinstance(net, list) else [net]
    param_key = param_key if isinstance(param_key, list) else [param_key]
    save_dict = {}
    for net_, key in zip(net, param_key, strict=True):
        state_dict = self.get_bare_model(net_).state_dict()
        save_dict[key] = {name.removeprefix('module.'): value.cpu() for name, value in state_dict.items()}
    label = 'latest' if current_iter == -1 else current_iter
    atomic_torch_save(save_dict, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))


def save_training_state(self, epoch, current_iter):
    """BasicSR's ``save_training_state``, atomic, with the random states for an exact continuation."""
    if current_iter == -1 or self.opt['rank'] != 0:
        return
    state = {
        'epoch': epoch,
        'iter': current_iter,
        'optimizers': [o.state_dict() for o in self.optimizers],
        'schedulers': [s.state_dict() for s in self.schedulers],
        'rng': get_rng_states(),
    }
    atomic_torch_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))


# the resumed run's position, consumed by the first data iterator it creates (see _resuming_reset)
_pending_resume = {}


def _resume_training(resume_training):
    """Remember where the resumed run stopped: its epoch, iteration and random states."""
    def wrapper(self, resume_state):
        resume_training(self, resume_state)
        _pending_resume.update(epoch=resume_state['epoch'], iter=resume_state['iter'], rng=resume_state.get('rng'))
    return wrapper


def _resuming_reset(reset):
    """Make the resumed epoch continue where the saved run was, not from its first batch.

    BasicSR restarts the epoch from its first batch after a resume. Here the sampler skips the batches the saved
    run had already consumed in that epoch, and the random states are restored after the data iterator is created
    (creating it draws from torch's generator), so the next iterations equal those of an uninterrupted run.
    """
    def wrapper(self):
        if not _pending_resume:
            return reset(self)
        resume = dict(_pending_resume)
        _pending_resume.clear()
        loader = self.ori_loader
        consumed = resume['iter'] - resume['epoch'] * len(loader)
        loader.sampler.skip_indices = min(max(consumed, 0), len(loader)) * loader.batch_size
        reset(self)
        if resume['rng'] is not None:
            set_rng_states(resume['rng'])
    return wrapper


def _skipping_iter(sampler_iter):
    """``EnlargedSampler.__iter__`` that drops ``skip_indices`` indices once (set by ``_resuming_reset``)."""
    def wrapper(self):
        skip = self.__dict__.pop('skip_indices', 0)
        return iter(list(sampler_iter(self))[skip:])
    return wrapper


def get_optimizer(self, optim_type, params, lr, **kwargs):
    """Any ``torch.optim`` optimiser by name (BasicSR 1.4.2 only knows ``Adam``)."""
    optimizer_class = getattr(torch.optim, optim_type, None)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise NotImplementedError(f'optimizer {optim_type!r} is not a torch.optim optimiser (e.g. Adam, AdamW, SGD).')
    return optimizer_class(params, lr, **kwargs)


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


def filter2D(img, kernel):
    """``basicsr.utils.img_process_util.filter2D`` with ``reshape`` instead of ``view``.

    After DiffJPEG the tensor is channels-last; ``view`` then raises "view size is not compatible".

    Args:
        img (Tensor): Images, shape (b, c, h, w).
        kernel (Tensor): Kernels, shape (1, k, k) (shared) or (b, k, k), k odd.

    Returns:
        Tensor: Filtered images, shape (b, c, h, w).
    """
    k = kernel.size(-1)
    b, c, h, w = img.size()
    if k % 2 != 1:
        raise ValueError(f'filter2D needs an odd kernel size, got {k}.')
    img = torch.nn.functional.pad(img, (k // 2, k // 2, k // 2, k // 2), mode='reflect')
    ph, pw = img.size()[-2:]
    if kernel.size(0) == 1:
        out = torch.nn.functional.conv2d(img.reshape(b * c, 1, ph, pw), kernel.reshape(1, 1, k, k))
    else:
        kernel = kernel.reshape(b, 1, k, k).repeat(1, c, 1, 1).reshape(b * c, 1, k, k)
        out = torch.nn.functional.conv2d(img.reshape(1, b * c, ph, pw), kernel, groups=b * c)
    return out.reshape(b, c, h, w)


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


def _metrics_see_lq(nondist_validation):
    """``SRModel.nondist_validation`` whose metrics also receive the LR input as ``lq`` (uint8, like ``img``).

    BasicSR passes only ``img`` and ``img2`` (and deletes ``self.lq`` before the metrics), so a BasicSR model (the
    RRDB/ESRGAN baselines) cannot be scored with LR-PSNR through the test pipeline. The LR image is taken from the
    visuals BasicSR fetches for each image.
    """
    def wrapper(self, dataloader, current_iter, tb_logger, save_img):
        from basicsr.metrics import calculate_metric
        from basicsr.models import sr_model
        from basicsr.utils import tensor2img

        current_lq = {}

        def get_current_visuals():
            visuals = type(self).get_current_visuals(self)
            current_lq['lq'] = tensor2img([visuals['lq']])
            return visuals

        self.get_current_visuals = get_current_visuals
        sr_model.calculate_metric = lambda data, opt: calculate_metric({**current_lq, **data}, opt)
        try:
            return nondist_validation(self, dataloader, current_iter, tb_logger, save_img)
        finally:
            sr_model.calculate_metric = calculate_metric
            del self.get_current_visuals
    return wrapper


def apply():
    """Apply every fix once. Safe to call again."""
    global _applied
    if _applied:
        return
    _alias_functional_tensor()
    import basicsr.test
    import basicsr.train
    from basicsr.data import data_sampler, prefetch_dataloader
    from basicsr.models import base_model, realesrgan_model, realesrnet_model, sr_model
    from basicsr.utils import img_process_util

    if basicsr.__version__ != BASICSR_VERSION:
        warnings.warn(f'srddgan patches BasicSR {BASICSR_VERSION}; found {basicsr.__version__}. Install '
                      f'basicsr=={BASICSR_VERSION} (constraints.txt).', stacklevel=2)
    basicsr.train.parse_options = parse_options
    basicsr.test.parse_options = parse_options
    basicsr.train.load_resume_state = load_resume_state
    base_model.BaseModel.get_optimizer = get_optimizer
    sr_model.SRModel.nondist_validation = _metrics_see_lq(sr_model.SRModel.nondist_validation)
    base_model.BaseModel.model_to_device = model_to_device
    base_model.BaseModel.save_network = save_network
    base_model.BaseModel.save_training_state = save_training_state
    base_model.BaseModel.resume_training = _resume_training(base_model.BaseModel.resume_training)
    for prefetcher in (prefetch_dataloader.CPUPrefetcher, prefetch_dataloader.CUDAPrefetcher):
        prefetcher.reset = _resuming_reset(prefetcher.reset)
    data_sampler.EnlargedSampler.__iter__ = _skipping_iter(data_sampler.EnlargedSampler.__iter__)
    for module in (img_process_util, realesrgan_model, realesrnet_model):
        module.filter2D = filter2D
    for model_class in (realesrgan_model.RealESRGANModel, realesrnet_model.RealESRNetModel):
        model_class.__init__ = _realesrgan_init
        model_class._dequeue_and_enqueue = _queue_on_device(model_class._dequeue_and_enqueue)
    _applied = True
