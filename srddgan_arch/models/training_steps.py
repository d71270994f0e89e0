"""The generic machinery of a GAN's training steps: losses on the device, mixed precision, freezing a network, an
optimiser step guarded against non-finite losses and gradients, and the count of skipped steps."""
import math
from copy import deepcopy

import torch
from basicsr.losses import build_loss
from basicsr.utils import get_root_logger


class TrainingStepsMixin:
    """Helpers of a model's ``optimize_parameters``; list it before the BasicSR model class.

    The model sets ``grad_clip``, ``max_nonfinite_steps``, ``nonfinite_skipped = 0`` and ``_nonfinite_streak = 0``
    and calls ``_init_amp`` when it builds its training settings.
    """

    def _build_loss(self, loss_opt):
        """A BasicSR loss on the model's device, or None when ``loss_opt`` is empty."""
        return build_loss(deepcopy(loss_opt)).to(self.device) if loss_opt else None

    def _init_amp(self, use_amp, amp_dtype):
        """Autocast settings: bf16/fp16 mixed precision on CUDA only; fp16 gets one GradScaler per optimiser."""
        self.use_amp = bool(use_amp) and self.device.type == 'cuda'
        if use_amp and not self.use_amp:
            get_root_logger().warning('train.use_amp is ignored on CPU: training runs in float32.')
        self.amp_dtype = getattr(torch, amp_dtype)
        use_scaler = self.use_amp and self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=use_scaler)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    @staticmethod
    def _set_requires_grad(net, flag):
        for param in net.parameters():
            param.requires_grad = flag

    def _apply_step(self, optimizer, net, scaler, losses):
        """Clip (``grad_clip``) and step, unless a loss or the gradient norm is non-finite (then no update).

        With fp16 the GradScaler handles overflowing gradients itself (it skips and lowers its scale): only a
        non-finite loss counts then. Returns True when the optimiser stepped.
        """
        scaler.unscale_(optimizer)
        params = [p for p in net.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or math.inf)
        checked = [loss.detach() for loss in losses] + ([] if scaler.is_enabled() else [grad_norm])
        finite = self._all_finite(checked)
        if finite:
            scaler.step(optimizer)
        else:
            optimizer.zero_grad(set_to_none=True)
        scaler.update()
        return finite

    def _all_finite(self, tensors):
        """True when every tensor is finite on every process (all ranks then take the same decision)."""
        flag = torch.stack([torch.isfinite(t.float()).all() for t in tensors]).all().float()
        if self.opt['dist']:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag.item())

    def _count_nonfinite(self, stepped, current_iter):
        """Count skipped iterations; stop after ``max_nonfinite_steps`` of them in a row."""
        if stepped:
            self._nonfinite_streak = 0
        else:
            self.nonfinite_skipped += 1
            self._nonfinite_streak += 1
            get_root_logger().warning(f'Iteration {current_iter}: non-finite loss or gradient, update skipped '
                                      f'({self._nonfinite_streak} in a row).')
        self.log_dict['nonfinite_skipped'] = self.nonfinite_skipped
        if self.max_nonfinite_steps and self._nonfinite_streak >= self.max_nonfinite_steps:
            raise RuntimeError(
                f'Training stopped at iteration {current_iter}: {self._nonfinite_streak} iterations in a row had a '
                f'non-finite loss or gradient (train.max_nonfinite_steps = {self.max_nonfinite_steps}). The last '
                f'good checkpoint is in {self.opt["path"].get("models")}; lower the learning rates, set '
                f'train.grad_clip, or check the data, then resume with --auto_resume.')
