"""The generic machinery of a GAN's training steps: losses on the device, mixed precision, an optimiser step guarded
against non-finite losses and gradients, the count of skipped steps, the EMA update and the loss log, all without
waiting for the device in every iteration."""
from collections import OrderedDict
from copy import deepcopy

import torch
from basicsr.losses import build_loss
from basicsr.utils import get_root_logger


class TrainingStepsMixin:
    """Helpers of a model's ``optimize_parameters``; list it before the BasicSR model class.

    Nothing here reads a value back from the device during an iteration (on a GPU every such read stalls the
    queue): the non-finite check decides on the device (a fused optimiser skips the update there), the skipped steps
    are counted there, and the log holds tensors until ``get_current_log`` (BasicSR calls it every
    ``logger.print_freq`` iterations) reads them all at once and checks the ``max_nonfinite_steps`` rule, as
    ``save`` does before it writes.
    """

    def _init_steps(self, train):
        """Gradient clipping, the non-finite guard and autocast (bf16/fp16; fp16 gets one GradScaler per optimiser)
        from the ``train`` settings (``TrainOptions``)."""
        self.grad_clip = train.grad_clip
        self.max_nonfinite_steps = train.max_nonfinite_steps
        self.nonfinite_skipped = self._nonfinite_streak = self._longest_streak = torch.zeros((), dtype=torch.long,
                                                                                            device=self.device)
        self._last_iter = self._skipped_reported = 0
        self.last_good_checkpoint = None  # the iteration of the newest checkpoint saved with no skipped step pending
        self.use_amp = bool(train.use_amp)
        self.amp_dtype = getattr(torch, train.amp_dtype)
        if self.use_amp and self.device.type == 'cpu':
            get_root_logger().warning(f'train.use_amp on the CPU: autocast runs in {train.amp_dtype}, slower than '
                                      'float32 on most CPUs (meant for testing the mixed-precision path).')
        use_scaler = self.use_amp and self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=use_scaler)

    def _build_loss(self, loss_opt):
        """A BasicSR loss on the model's device, or None when ``loss_opt`` is empty."""
        return build_loss(deepcopy(loss_opt)).to(self.device) if loss_opt else None

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def _apply_step(self, optimizer, net, scaler, losses):
        """Clip (``grad_clip``) and step, unless a loss or the gradient norm is non-finite (then no update).

        A fused optimiser (the default, see ``TrainingMixin.get_optimizer``) gets the decision as its ``found_inf``
        flag and skips the update on the device, as it does for GradScaler's overflow flag; other optimisers read the
        flag back. With fp16 the gradients are unscaled first: an overflow that GradScaler skips (it then lowers its
        scale) is a non-finite gradient norm, so it is skipped and counted here the same way.

        Returns:
            Tensor: 0-dim bool, True when the optimiser stepped.
        """
        scaler.unscale_(optimizer)
        params = [p for p in net.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if self.grad_clip:
            torch.nn.utils.clip_grads_with_norm_(params, self.grad_clip, grad_norm)
        nonfinite = self._any_nonfinite([loss.detach() for loss in losses] + [grad_norm])
        if getattr(optimizer, '_step_supports_amp_scaling', False):
            optimizer.found_inf = nonfinite.float()
            optimizer.step()
            del optimizer.found_inf
        elif not nonfinite.item():
            optimizer.step()
        scaler.update()  # from the overflow flag unscale_ recorded
        return ~nonfinite

    def _any_nonfinite(self, tensors):
        """0-dim bool tensor: some tensor is not finite on some process (all ranks then take the same decision)."""
        flag = torch.stack([~torch.isfinite(t.float()).all() for t in tensors]).any()
        if self.opt['dist']:
            flag = flag.float()
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            flag = flag.bool()
        return flag

    def _count_nonfinite(self, stepped, current_iter):
        """Count the iterations whose update was skipped and the longest run of them, on the device."""
        skipped = (~stepped).long()
        self.nonfinite_skipped = self.nonfinite_skipped + skipped
        self._nonfinite_streak = (self._nonfinite_streak + 1) * skipped
        self._longest_streak = torch.maximum(self._longest_streak, self._nonfinite_streak)
        self._last_iter = current_iter
        self.log_dict['nonfinite_skipped'] = self.nonfinite_skipped

    def _check_nonfinite(self):
        """Warn about the iterations skipped since the last check; stop when ``max_nonfinite_steps`` of them came in
        a row. Reads the counters back from the device."""
        skipped, longest = int(self.nonfinite_skipped), int(self._longest_streak)
        new = skipped - self._skipped_reported
        if new:
            get_root_logger().warning(f'Iterations up to {self._last_iter}: {new} updates skipped for a non-finite '
                                      f'loss or gradient ({skipped} in all, at most {longest} in a row).')
        self._skipped_reported = skipped
        if self.max_nonfinite_steps and longest >= self.max_nonfinite_steps:
            raise RuntimeError(
                f'Training stopped at iteration {self._last_iter}: {longest} iterations in a row had a non-finite '
                f'loss or gradient (train.max_nonfinite_steps = {self.max_nonfinite_steps}). {self._last_good_text()}')
        self._longest_streak = self._nonfinite_streak.clone()

    def _last_good_text(self):
        """Where to continue from: the last checkpoint saved with no skipped step pending, or none."""
        advice = 'with lower learning rates or train.grad_clip, or check the data'
        if self.last_good_checkpoint is None:
            return f'No checkpoint was saved before the non-finite steps: start again {advice}.'
        state = f'{self.opt["path"].get("training_states")}/{self.last_good_checkpoint}.state'
        return (f'The last good checkpoint is iteration {self.last_good_checkpoint}: continue from it {advice}, with '
                f'--force_yml path:resume_state={state} (--auto_resume takes the newest, which may be later).')

    def check_before_saving(self, current_iter, nets):
        """Before a checkpoint: the ``max_nonfinite_steps`` rule, then the weights (read back once, here only). A
        checkpoint saved with skipped steps pending is written with a warning and not taken as a good one.

        Args:
            current_iter (int): The iteration saved.
            nets (list[nn.Module]): The networks saved.

        Raises:
            RuntimeError: Too many skipped steps in a row, or weights holding NaN or inf (then nothing is written).
        """
        self._check_nonfinite()
        if not torch.stack([torch.isfinite(p).all() for net in nets for p in net.parameters()]).all():
            raise RuntimeError(f'Not saving iteration {current_iter}: the weights hold NaN or inf. '
                               f'{self._last_good_text()}')
        if streak := int(self._nonfinite_streak):
            get_root_logger().warning(f'Saving iteration {current_iter} after {streak} skipped updates in a row: it '
                                      f'may not be a good checkpoint. {self._last_good_text()}')
        else:
            self.last_good_checkpoint = current_iter

    @torch.no_grad()
    def model_ema(self, decay=0.999, stepped=None):
        """BasicSR's ``model_ema`` (``net_g_ema`` = decay * ``net_g_ema`` + (1 - decay) * ``net_g``, parameters only)
        in foreach operations.

        Args:
            decay (float): EMA decay; 0 copies G. Default: 0.999.
            stepped (Tensor | None): 0-dim bool; where False, the EMA stays as it is (G did not step). Default: None.
        """
        params = dict(self.get_bare_model(self.net_g).named_parameters())
        ema = list(self.net_g_ema.parameters())
        g_params = [params[name] for name, _ in self.net_g_ema.named_parameters()]
        if stepped is None:
            torch._foreach_lerp_(ema, g_params, 1 - decay)
            return
        # foreach lerp takes its weight as a Python number (a tensor weight is read back to the host)
        weight = stepped * (1 - decay)
        torch._foreach_mul_(ema, 1 - weight)
        torch._foreach_add_(ema, torch._foreach_mul(g_params, weight))

    def reduce_loss_dict(self, loss_dict):
        """The losses, detached, kept on the device until ``get_current_log`` (BasicSR reads each one back here)."""
        return OrderedDict((name, value.detach().mean()) for name, value in loss_dict.items())

    def get_current_log(self):
        """The last iteration's log as numbers, averaged over the processes on rank 0 (as BasicSR's
        ``reduce_loss_dict``), in one read from the device, after the check of the skipped steps."""
        self._check_nonfinite()
        names = [name for name, value in self.log_dict.items() if torch.is_tensor(value)]
        values = torch.stack([self.log_dict[name].float() for name in names]) if names else torch.zeros(0)
        if self.opt['dist'] and names:
            torch.distributed.reduce(values, dst=0)
            if self.opt['rank'] == 0:
                values /= self.opt['world_size']
        log = OrderedDict(self.log_dict)
        for name, value in zip(names, values.tolist(), strict=True):
            log[name] = int(value) if name == 'nonfinite_skipped' else value
        return log
