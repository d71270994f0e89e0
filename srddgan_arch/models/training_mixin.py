"""What srddgan's models change in BasicSR's ``BaseModel``: optimisers, loading and saving checkpoints, exact resume."""
import inspect
from os import path as osp

import torch
import torch.distributed as dist
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only

from srddgan_arch.compat import process_group_timeout
from srddgan_arch.utils.checkpoint import load_checkpoint, load_fitting_weights, state_dict_of
from srddgan_arch.utils.preemption import PREEMPTED_EXIT_CODE, StopAgreement, received_signal
from srddgan_arch.utils.train_pipeline import validation_inputs
from srddgan_arch.utils.training_state import (
    ResumableSampler,
    ResumePosition,
    atomic_torch_save,
    get_rng_states,
    rank_rng_states,
    remove_stale_temporaries,
)


class TrainingMixin:
    """Overrides of BasicSR's ``BaseModel`` methods; list it before the BasicSR model class.

    - ``get_optimizer``: any ``torch.optim`` optimiser by name (BasicSR 1.4.2 knows only Adam);
    - ``load_network``: also ``.safetensors`` files and http(s) addresses (``path.pretrain_network_g``), through
      ``load_checkpoint``;
    - ``save_network`` / ``save_training_state``: written atomically (a run killed while saving leaves the previous
      files complete), once, by rank 0; training states carry the python, numpy and torch random states of every
      rank, and no rank leaves ``save_training_state`` before rank 0 has written its files;
    - ``resume_training``: the resumed epoch skips the batches the saved run had consumed and each rank continues
      with its own random states, so the iterations after a resume equal those of an uninterrupted run;
    - at the start of a training run, the temporary files of a run killed while saving are deleted;
    - ``stop_if_preempted``, called by the model after each optimisation step and before each validation image: after
      SIGTERM or SIGUSR1, save this iteration's checkpoint and exit with ``PREEMPTED_EXIT_CODE``
      (``utils/preemption.py``); a run resumed from a validation cut short redoes it before its first iteration.

    Args:
        opt (dict): The parsed BasicSR options.
    """

    def __init__(self, opt):
        if opt['is_train'] and opt['rank'] == 0:
            path_opt = opt.get('path') or {}
            folders = [path_opt[key] for key in ('models', 'training_states') if path_opt.get(key)]
            for path in remove_stale_temporaries(folders):
                get_root_logger().warning(f'Removed {path}, left by a run killed while saving.')
        super().__init__(opt)
        timeout = process_group_timeout(opt.get('dist_params'))
        self._stop_agreement = StopAgreement(timeout) if opt['is_train'] else None
        # the ranks gather their random states and wait for rank 0's files over a CPU group: no device work
        self._cpu_group = dist.new_group(backend='gloo', timeout=timeout) if opt['is_train'] and opt['dist'] else None
        self.validation_interrupted = False  # saved in the training state: the resumed run redoes that validation
        self._validation_to_redo = None

    def stop_if_preempted(self, current_iter, validating=False):
        """At the end of an iteration or before a validation image, after SIGTERM or SIGUSR1 reached this process (or,
        between iterations, any rank; under torchrun the ranks agree at the end of the next iteration,
        ``StopAgreement``): save this iteration's networks and training state, as BasicSR's periodic save would, and
        exit with ``PREEMPTED_EXIT_CODE`` once rank 0's files are complete; ``--auto_resume`` continues from this
        iteration.

        Args:
            current_iter (int): The iteration just finished.
            validating (bool): Called during validation of a single-process run; the training state records that this
                iteration's validation is to be redone. Default: False.
        """
        # under torchrun only rank 0 validates while the others wait in a collective: a save now would wait for them
        # (the random states are gathered), so there the validation ends and the ranks stop at the next iteration
        if self._stop_agreement is None or (validating and self.opt['dist']):
            return
        if not (received_signal() is not None if validating else self._stop_agreement.stop_now()):
            return
        self.validation_interrupted = validating
        self.save(ResumableSampler.epoch_in_progress, current_iter)
        signal_name = received_signal() or 'A stop signal (on another rank)'
        cut_short = ' (its validation was cut short: the resumed run redoes it)' if validating else ''
        get_root_logger().warning(f'{signal_name} received: saved the networks and training state of iteration '
                                  f'{current_iter}{cut_short}; exit code {PREEMPTED_EXIT_CODE}. Continue with '
                                  '--auto_resume.')
        raise SystemExit(PREEMPTED_EXIT_CODE)

    def update_learning_rate(self, current_iter, warmup_iter=-1):
        """BasicSR's ``update_learning_rate``; at the first iteration after a resume from a state saved during
        validation, that validation is redone first (with the resumed networks and random states, as the
        uninterrupted run validated before this iteration)."""
        if self._validation_to_redo is not None:
            redo_iter, self._validation_to_redo = self._validation_to_redo, None
            get_root_logger().info(f'Redoing the validation of iteration {redo_iter}, cut short by a stop signal.')
            for loader in validation_inputs['loaders']:
                self.validation(loader, redo_iter, validation_inputs['tb_logger'], self.opt['val']['save_img'])
        super().update_learning_rate(current_iter, warmup_iter)

    def get_optimizer(self, optim_type, params, lr, **kwargs):
        """A ``torch.optim`` optimiser by class name; fused (``fused=True``: one kernel per step on the CPU and the
        GPU, the same update up to rounding) where the class has that option and neither ``fused`` nor ``foreach``
        is given.

        Args:
            optim_type (str): E.g. 'Adam', 'AdamW', 'SGD'.
            params (list): The parameters.
            lr (float): Learning rate.
            kwargs: The optimiser's other arguments.

        Returns:
            torch.optim.Optimizer: The optimiser.
        """
        optimizer_class = getattr(torch.optim, optim_type, None)
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
            raise NotImplementedError(f'optimizer {optim_type!r} is not a torch.optim optimiser (e.g. Adam, AdamW, '
                                      'SGD).')
        if 'fused' in inspect.signature(optimizer_class).parameters and not {'fused', 'foreach'} & set(kwargs):
            kwargs['fused'] = True
        return optimizer_class(params, lr, **kwargs)

    def load_network(self, net, load_path, strict=True, param_key='params'):
        """BasicSR's ``load_network`` reading through :func:`load_checkpoint`: a ``.pth`` (weights only), a
        ``.safetensors`` file or an http(s) address of either.

        Args:
            net (nn.Module): The network (wrapped or not).
            load_path (str): The file or its address.
            strict (bool): Every key must match. Default: True.
            param_key (str | None): Key of the weights; falls back to ``params_ema``, ``params``, a bare state dict.
                Default: 'params'.
        """
        net = self.get_bare_model(net)
        checkpoint = load_checkpoint(load_path, what=f'Weights of {net.__class__.__name__}')
        state = {name.removeprefix('module.'): value
                 for name, value in state_dict_of(checkpoint, param_key, load_path).items()}
        get_root_logger().info(f'Loading {net.__class__.__name__} model from {load_path}, with param key: '
                               f'[{param_key}].')
        self._print_different_keys_loading(net, state, strict)
        if strict:
            load_fitting_weights(net, state, load_path, f'the {net.__class__.__name__} of the option file')
        else:
            net.load_state_dict(state, strict=False)

    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params', extra=None):
        """BasicSR's ``save_network``, written atomically, by rank 0 only (as BasicSR's).

        Args:
            net (nn.Module | list[nn.Module]): Network(s) to save.
            net_label (str): File name prefix, e.g. 'net_g'.
            current_iter (int): Iteration; -1 saves as 'latest'.
            param_key (str | list[str]): Key(s) of the state dicts in the file. Default: 'params'.
            extra (dict | None): Entries stored beside the state dicts (plain values, e.g. the diffusion schedule).
                Default: None.
        """
        nets = net if isinstance(net, list) else [net]
        param_keys = param_key if isinstance(param_key, list) else [param_key]
        save_dict = dict(extra or {})
        for net_, key in zip(nets, param_keys, strict=True):
            state_dict = self.get_bare_model(net_).state_dict()
            save_dict[key] = {name.removeprefix('module.'): value.cpu() for name, value in state_dict.items()}
        label = 'latest' if current_iter == -1 else current_iter
        atomic_torch_save(save_dict, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    def save_training_state(self, epoch, current_iter):
        """BasicSR's ``save_training_state``, written atomically by rank 0, with every rank's random states (``rng``:
        one entry per rank). Every rank calls it, after the network files (BasicSR's ``save`` does): the states are
        gathered, and no rank returns before rank 0 has written its files (a rank that left first, pre-empted or
        at the end of training, could make torchrun stop rank 0 in the middle of writing).

        Args:
            epoch (int): Current epoch.
            current_iter (int): Current iteration; -1 (end of training) writes no state.
        """
        if current_iter != -1:
            rng = self._gather(get_rng_states())
            if self.opt['rank'] == 0:
                state = {
                    'epoch': epoch,
                    'iter': current_iter,
                    'optimizers': [o.state_dict() for o in self.optimizers],
                    'schedulers': [s.state_dict() for s in self.schedulers],
                    'rng': rng,
                    'validation_interrupted': self.validation_interrupted,
                }
                atomic_torch_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))
        elif self._stop_agreement is not None:
            self._stop_agreement.finish()
        if self._cpu_group is not None:
            dist.barrier(group=self._cpu_group)

    def _gather(self, obj):
        """``obj`` of every rank, in rank order (collective: every rank calls it)."""
        if self._cpu_group is None:
            return [obj]
        gathered = [None] * self.opt['world_size']
        dist.all_gather_object(gathered, obj, group=self._cpu_group)
        return gathered

    def resume_training(self, resume_state):
        """BasicSR's ``resume_training`` (optimisers, schedulers), then the train sampler continues the saved epoch.

        Args:
            resume_state (dict): A training state.
        """
        super().resume_training(resume_state)
        if hasattr(self, 'last_good_checkpoint'):  # the state resumed from is one
            self.last_good_checkpoint = resume_state['iter']
        if resume_state.get('validation_interrupted') and self.opt.get('val') is not None:
            self._validation_to_redo = resume_state['iter']
        batch_size = self.opt['datasets']['train']['batch_size_per_gpu']
        ResumableSampler.resume_from(ResumePosition(resume_state['epoch'], resume_state['iter'], batch_size,
                                                    self._resumed_rng_states(resume_state)))

    def _resumed_rng_states(self, resume_state):
        """This rank's random states in ``resume_state`` (``rank_rng_states``), with a warning when the state was
        saved by another number of processes: the run then continues, but not as the saved one would have."""
        saved, world_size = resume_state.get('rng'), self.opt['world_size']
        saved_ranks = None if saved is None else 1 if isinstance(saved, dict) else len(saved)
        if saved_ranks is not None and saved_ranks != world_size:
            get_root_logger().warning(
                f'Resuming {world_size} processes from a training state with the random states of {saved_ranks} '
                f'({self.opt["path"].get("resume_state")}): ranks 0-{min(saved_ranks, world_size) - 1} continue '
                'theirs, any other rank starts new streams, and the batches are split anew: the run is not an exact '
                'continuation of the saved one.')
        return rank_rng_states(saved, self.opt['rank'], self.opt.get('manual_seed') or 0, resume_state['iter'])
