"""BasicSR's SRModel for the baselines (RRDB, ESRGAN): scored with srddgan's metrics, LR-PSNR included."""
from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY

from srddgan_arch.models.sample_validation import SampleValidationMixin
from srddgan_arch.models.training_mixin import TrainingMixin
from srddgan_arch.options import ValOptions


@MODEL_REGISTRY.register()
class SRBaselineModel(TrainingMixin, SampleValidationMixin, SRModel):
    """``SRModel`` whose validation metrics also receive the LR image (``lq``), trained like srddgan's models (any
    torch.optim optimiser, atomic checkpoints, exact resume).

    BasicSR's ``SRModel`` gives its metrics only ``img`` and ``img2``, so a baseline cannot be scored with LR-PSNR
    through BasicSR's test pipeline; this model can (``options/test_*_baseline_x4.yml``).

    Args:
        opt (dict): The parsed BasicSR options; its ``val`` section is read through ``ValOptions``.
    """

    def __init__(self, opt):
        self.val_settings = ValOptions.from_dict(opt.get('val'))
        super().__init__(opt)

    def test(self):
        """BasicSR's one-shot ``test`` (the EMA generator when there is one); its output is the only sample."""
        super().test()
        self.samples = [self.output]
