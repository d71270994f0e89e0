"""Validation over several SR samples per LR image, with the LR image given to every metric and reference rows."""
from os import path as osp

import numpy as np
from basicsr.metrics import calculate_metric
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.registry import METRIC_REGISTRY
from tqdm import tqdm

from srddgan_arch.color_fix import COLOR_FIXES, color_fix
from srddgan_arch.lr_consistency import REFERENCES, LRConsistencyOptions, reference_upscale
from srddgan_arch.options.schema import OptionError, Section, option, section
from srddgan_arch.options.signatures import check_metric, is_set_metric, registered, uses_lpips_backbone
from srddgan_arch.utils.torchvision_weights import locate_backbone


def image_metrics(metrics_opt, sr_imgs, gt_img, lq_img):
    """Every metric of one LR image, as srddgan-test computes them: per-sample metrics averaged over the samples,
    set metrics (they take ``samples``, e.g. diversity) once over them; every metric gets the LR image as ``lq``.

    Args:
        metrics_opt (dict): name -> BasicSR metric entry (``val.metrics``).
        sr_imgs (list[ndarray]): The SR samples, uint8.
        gt_img (ndarray | None): The HR image, uint8.
        lq_img (ndarray): The LR image, uint8.

    Returns:
        dict: name -> value.
    """
    results = {}
    for name, metric_opt in metrics_opt.items():
        if is_set_metric(METRIC_REGISTRY.get(metric_opt['type'])):
            results[name] = calculate_metric(dict(samples=sr_imgs, img2=gt_img, lq=lq_img), metric_opt)
        else:
            values = [calculate_metric(dict(img=sr, img2=gt_img, lq=lq_img), metric_opt) for sr in sr_imgs]
            results[name] = float(sum(values) / len(values))
    return results


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


def parse_val(val_opt):
    """``val`` as ValOptions, with its metrics checked (registered, arguments, LPIPS backbone file).

    Args:
        val_opt (dict | None): The ``val`` section.

    Returns:
        ValOptions: The settings.
    """
    val = ValOptions.from_dict(val_opt)
    for name, metric_opt in (val.metrics or {}).items():
        key = f'val.metrics.{name}'
        function = registered(key, metric_opt, METRIC_REGISTRY)
        arguments = check_metric(key, metric_opt, function)
        if uses_lpips_backbone(function):  # looked up now, not at the first validation
            try:
                locate_backbone(arguments['net'], arguments['backbone_path'])
            except (FileNotFoundError, ValueError) as error:
                raise OptionError(f'{key}: {error}') from None
        if is_set_metric(function) and (val.num_samples < 2 or val.reduce == 'mean'):
            reason = 'val.reduce mean leaves one image' if val.reduce == 'mean' else f'got {val.num_samples}'
            raise OptionError(f'{key}: {metric_opt["type"]} needs val.num_samples >= 2 samples per LR image '
                              f'({reason}).')
    return val


class SampleValidationMixin:
    """``nondist_validation`` for BasicSR models whose ``test()`` sets ``self.samples`` (SR tensors in [0, 1]) and
    that have ``val_settings`` (``ValOptions``); list it before the BasicSR model class.

    Unlike ``SRModel``'s, the metrics also receive the LR image as ``lq`` (uint8, like ``img``): LR-PSNR works. The
    first validation of each data set also scores two references on the same images with the same per-sample
    metrics, logged after the model's values and kept in ``reference_results``: bicubic (BasicSR's MATLAB
    ``imresize``) and IBP (bicubic + the LR-consistency projection, with ``lr_consistency.iterations``).

    In training, a stop signal ends the validation before the next image (``TrainingMixin.stop_if_preempted``).
    """

    lr_consistency = LRConsistencyOptions()

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        """Sample every LR image, compute each configured metric per sample (mean over the samples) or, for set
        metrics such as ``calculate_diversity`` (they take ``samples``), once over the samples; average over images.

        Args:
            dataloader (DataLoader): Validation data.
            current_iter (int): Current iteration (names the saved images of a training run).
            tb_logger (SummaryWriter | None): Tensorboard logger.
            save_img (bool): Save the SR images.
        """
        dataset_name = dataloader.dataset.opt['name']
        metrics_opt = self.val_settings.metrics or {}
        if metrics_opt:
            self._initialize_best_metric_results(dataset_name)
        self.metric_results = {name: 0.0 for name in metrics_opt}
        self.reference_results = getattr(self, 'reference_results', {})
        references = None if dataset_name in self.reference_results else {}
        num_images = 0
        for val_data in tqdm(dataloader, unit='image', disable=not self.val_settings.pbar):
            if self.opt['is_train']:  # a stop signal cuts the validation short (TrainingMixin)
                self.stop_if_preempted(current_iter, validating=True)
            num_images += 1
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            self.samples = [color_fix(s, self.lq, self.val_settings.color_fix) for s in self.samples]
            sr_imgs = [tensor2img(s.detach().cpu()) for s in self.samples]
            gt_img = tensor2img(self.gt.detach().cpu()) if hasattr(self, 'gt') else None
            lq_img = tensor2img(self.lq.detach().cpu())
            for name, value in image_metrics(metrics_opt, sr_imgs, gt_img, lq_img).items():
                self.metric_results[name] += value
            if references is not None:
                for method, values in self._reference_metrics(metrics_opt, gt_img, lq_img).items():
                    for name, value in values.items():
                        references.setdefault(method, {}).setdefault(name, []).append(value)
            if save_img:
                self._save_samples(sr_imgs, img_name, dataset_name, current_iter)
            for name in ('lq', 'gt', 'output', 'samples'):
                self.__dict__.pop(name, None)
        if references is not None:
            self.reference_results[dataset_name] = {
                method: {name: float(np.mean(values)) for name, values in per_metric.items()}
                for method, per_metric in references.items()}
        for name in self.metric_results:
            self.metric_results[name] /= max(num_images, 1)
            self._update_best_metric_result(dataset_name, name, self.metric_results[name], current_iter)
        if metrics_opt:
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def _reference_metrics(self, metrics_opt, gt_img, lq_img):
        """The per-sample metrics of the bicubic and IBP references on the current LR image (``self.lq``)."""
        scale = self.opt['scale']
        references = {name: reference_upscale(self.lq, scale, name, self.lr_consistency.iterations)
                      for name in REFERENCES}
        per_sample = {name: metric_opt for name, metric_opt in metrics_opt.items()
                      if not is_set_metric(METRIC_REGISTRY.get(metric_opt['type']))}
        return {method: image_metrics(per_sample, [tensor2img(img.detach().cpu())], gt_img, lq_img)
                for method, img in references.items()}

    def _log_validation_metric_values(self, current_iter, dataset_name, tb_logger):
        """BasicSR's validation log, followed by the references' scores on the same images."""
        super()._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        lines = [f'References on {dataset_name} (the same metrics on the same images):']
        for method, values in self.reference_results.get(dataset_name, {}).items():
            lines.append(f'\t # {method}: ' + ', '.join(f'{name}: {value:.4f}' for name, value in values.items()))
        get_root_logger().info('\n'.join(lines))

    def _save_samples(self, sr_imgs, img_name, dataset_name, current_iter):
        """Save the samples as SRModel names its outputs, with ``_s{k}`` appended when there are several."""
        if self.opt['is_train']:
            folder, stem = osp.join(self.opt['path']['visualization'], img_name), f'{img_name}_{current_iter}'
        else:
            suffix = self.val_settings.suffix or self.opt['name']
            folder, stem = osp.join(self.opt['path']['visualization'], dataset_name), f'{img_name}_{suffix}'
        for k, sr_img in enumerate(sr_imgs):
            imwrite(sr_img, osp.join(folder, f'{stem}_s{k}.png' if len(sr_imgs) > 1 else f'{stem}.png'))
