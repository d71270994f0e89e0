"""The degradation a model applies to training batches that come without LR, batched on the model's device.

Two pipelines, chosen by the option file:

- ``realesrgan:`` (a top-level section) with a data set giving HR crops and kernels (``SRDDGANRealESRGANDataset``,
  or BasicSR's ``RealESRGANDataset_basicsr``): Real-ESRGAN's second-order degradation, run by BasicSR's own
  ``RealESRNetModel.feed_data`` (USM-sharpened target, blur, random resize up/down/keep, Gaussian/Poisson noise,
  DiffJPEG, twice, then the final sinc filter and JPEG in random order, the crop to ``gt_size`` and the training-pair
  pool). Its keys are Real-ESRGAN's (``options/train_realesrnet_x4plus.yml``), with Real-ESRGAN's meanings;
- a ``SRDDGANDegradedDataset`` with ``degrade_in_dataset: false``: the paper's shuffled degradation
  (``degradations.degrade_batch``).
"""
from basicsr.models.realesrgan_model import RealESRGANModel
from basicsr.models.realesrnet_model import RealESRNetModel
from basicsr.utils import DiffJPEG, USMSharp

from srddgan_arch.data.degradations import degrade_batch
from srddgan_arch.data.degraded_dataset import DegradedDatasetOptions
from srddgan_arch.data.realesrgan_options import REALESRGAN_DATASETS, RealESRGANOptions
from srddgan_arch.options.parse_once import parse_once
from srddgan_arch.options.runs import dataset_settings
from srddgan_arch.options.schema import OptionError


class RealESRGANDegradation:
    """Real-ESRGAN's training-pair synthesis on any device: BasicSR's ``RealESRNetModel.feed_data`` and
    ``_dequeue_and_enqueue`` run on this object, which holds what they read (the options, the device, DiffJPEG,
    USMSharp, the pool). ``compat`` makes the pool follow the device (BasicSR allocates it with ``.cuda()``).

    Args:
        settings (RealESRGANOptions): The ``realesrgan`` section.
        scale (int): The SR scale.
        gt_size (int): The HR crop of the degraded pairs.
        device (torch.device): Where the batches are degraded.
    """

    is_train = True

    def __init__(self, settings, scale, gt_size, device):
        self.opt = dict(vars(settings), scale=scale, gt_size=gt_size)
        self.targets = settings.targets()
        self.device = device
        self.queue_size = settings.queue_size
        self.jpeger = DiffJPEG(differentiable=False).to(device)
        self.usm_sharpener = USMSharp().to(device)

    def _dequeue_and_enqueue(self):
        RealESRNetModel._dequeue_and_enqueue(self)

    def __call__(self, data):
        """A batch of ``gt``, ``kernel1``, ``kernel2``, ``sinc_kernel`` -> the batch with ``lq`` and ``gt`` (cropped to
        ``gt_size``, possibly exchanged with pairs of the pool) on the device. With Real-ESRGAN's three GAN keys
        (``l1_gt_usm``, ``percep_gt_usm``, ``gan_gt_usm``) it is ``RealESRGANModel.feed_data`` (the LR degraded from
        the sharpened HR) and the batch also has ``gt_pixel`` and ``gt_content_style``, each the HR or the sharpened HR
        as its key says (``gt``: ``gan_gt_usm``)."""
        if self.targets is None:
            RealESRNetModel.feed_data(self, data)
            return dict(data, lq=self.lq, gt=self.gt)
        RealESRGANModel.feed_data(self, data)
        return dict(data, lq=self.lq, **{name: self.gt_usm if usm else self.gt for name, usm in self.targets.items()})


class PaperDegradation:
    """The paper's shuffled degradation of HR batches (``degrade_batch``) on a device.

    Args:
        settings (DegradationOptions): The data set's ``degradation`` block.
        device (torch.device): Where the batches are degraded.
    """

    def __init__(self, settings, device):
        self.settings = settings
        self.device = device
        self.jpeger = DiffJPEG(differentiable=False).to(device)

    def __call__(self, data):
        """A batch of ``gt`` -> the batch with ``lq`` and ``gt`` on the device."""
        gt = data['gt'].to(self.device)
        return dict(data, gt=gt, lq=degrade_batch(gt, self.settings, self.jpeger))


def build_batch_degradation(opt, device):
    """The degradation of training batches without LR an option dict asks for, or None.

    Args:
        opt (dict): Parsed options (``scale``, ``datasets``; ``realesrgan``, read when there is a training set).
        device (torch.device): The model's device.

    Returns:
        RealESRGANDegradation | PaperDegradation | None: A callable batch -> batch with ``lq``.
    """
    train_set = (opt.get('datasets') or {}).get('train')
    if opt.get('realesrgan') is not None and train_set is not None:
        if train_set['type'] not in REALESRGAN_DATASETS:
            raise OptionError(f'realesrgan: Real-ESRGAN\'s degradation needs HR crops and kernels: datasets.train.type '
                              f'must be one of {", ".join(REALESRGAN_DATASETS)}, got {train_set["type"]!r}.')
        settings = parse_once(RealESRGANOptions, opt['realesrgan'])
        return RealESRGANDegradation(settings, opt['scale'], train_set['gt_size'], device)
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        settings = dataset_settings(phase, dataset_opt, opt)
        if isinstance(settings, DegradedDatasetOptions) and not settings.degrade_in_dataset:
            return PaperDegradation(settings.degradation, device)
    return None

