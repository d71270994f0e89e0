"""BasicSR's SRModel for the baselines (RRDB, ESRGAN): scored with srddgan's metrics, LR-PSNR included."""
from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import ARCH_REGISTRY, MODEL_REGISTRY

from srddgan_arch.models.sample_validation import SampleValidationMixin, parse_val
from srddgan_arch.models.training_mixin import TrainingMixin
from srddgan_arch.options.signatures import check_registered_section
from srddgan_arch.utils.padding import lr_multiple, pad_lr


@MODEL_REGISTRY.register()
class SRBaselineModel(TrainingMixin, SampleValidationMixin, SRModel):
    """``SRModel`` whose validation metrics also receive the LR image (``lq``), trained like srddgan's models (any
    torch.optim optimiser, atomic checkpoints, exact resume).

    BasicSR's ``SRModel`` gives its metrics only ``img`` and ``img2``, so a baseline cannot be scored with LR-PSNR
    through BasicSR's test pipeline; this model can (``options/test_*_baseline_x4.yml``).

    Args:
        opt (dict): The parsed BasicSR options; ``network_g`` and ``val`` are read by ``parse_settings``.
    """

    @staticmethod
    def parse_settings(opt):
        """``network_g`` against its constructor and ``val`` as ValOptions (its metrics checked); the run checks
        call it too.

        Args:
            opt (dict): The options.

        Returns:
            ValOptions: The validation settings.
        """
        check_registered_section('network_g', opt.get('network_g'), ARCH_REGISTRY)
        return parse_val(opt.get('val'))

    def __init__(self, opt):
        self.val_settings = self.parse_settings(opt)
        super().__init__(opt)

    def optimize_parameters(self, current_iter):
        """``SRModel``'s step; after SIGTERM or SIGUSR1 the iteration's checkpoint is saved and the run exits.

        Args:
            current_iter (int): Current iteration (1-based).
        """
        super().optimize_parameters(current_iter)
        self.stop_if_preempted(current_iter)

    def test(self):
        """BasicSR's one-shot ``test`` (the EMA generator when there is one) on the LR image padded as
        ``srddgan-infer`` pads it (``utils/padding.py``: to the multiple the network needs, SwinIR's
        ``network_g.window_size`` included), the output cropped to ``scale`` x its size; it is the only sample."""
        lq, scale = self.lq, self.opt['scale']
        multiple = lr_multiple(self.get_bare_model(self.net_g), scale, self.opt['network_g'].get('window_size'))
        self.lq = pad_lr(lq, multiple)
        try:
            super().test()
        finally:
            self.lq = lq
        self.output = self.output[..., :lq.shape[-2] * scale, :lq.shape[-1] * scale]
        self.samples = [self.output]
