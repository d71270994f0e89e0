"""FID and Inception Score (paper Table 4, CIFAR-10) through torch-fidelity's InceptionV3 and its metric functions.

The Inception weights are never downloaded here: they come from a given path or torch-fidelity's cache file in
torch.hub's checkpoint folder (where ``torch_fidelity.calculate_metrics`` stores them after its first online run).
"""

import numpy as np
import torch

from srddgan_arch.data.image_files import list_images
from srddgan_arch.data.image_io import read_image, to_uint8
from srddgan_arch.utils.checkpoint import locate_weights

INCEPTION_FILE = 'weights-inception-2015-12-05-6726825d.pth'
FID_FEATURE, IS_FEATURE = '2048', 'logits_unbiased'


def build_inception(path=None, device='cpu'):
    """torch-fidelity's InceptionV3 feature extractor returning (2048-d pool features, unbiased logits).

    Args:
        path (str | None): Weights file (``INCEPTION_FILE``). Default: None (torch.hub's checkpoint folder).
        device (str): Device. Default: 'cpu'.

    Returns:
        nn.Module: Maps uint8 RGB images (B, 3, H, W) to a tuple (features (B, 2048), logits (B, 1008)).
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    weights_path = locate_weights(INCEPTION_FILE, path, what='FID/IS (InceptionV3)',
                                  source="torch-fidelity's release v0.2.0", option='--inception_path')
    extractor = FeatureExtractorInceptionV3('inception-v3-compat', [FID_FEATURE, IS_FEATURE],
                                            feature_extractor_weights_path=weights_path)
    return extractor.to(device)


def read_images(folder):
    """All images of a folder (sorted) as uint8 RGB arrays (H, W, 3), decoded by ``image_io.read_image``."""
    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f'No images in {folder}.')
    return [np.ascontiguousarray(to_uint8(read_image(path).img)[:, :, ::-1]) for path in paths]


@torch.no_grad()
def extract_features(images, extractor, batch_size=64, device='cpu'):
    """Run the extractor over uint8 RGB images, batching consecutive images of equal size.

    Args:
        images (list[ndarray]): uint8 RGB images (H, W, 3).
        extractor (callable): uint8 tensor (B, 3, H, W) -> tuple (features, logits).
        batch_size (int): Images per batch. Default: 64.
        device (str): Device of the extractor. Default: 'cpu'.

    Returns:
        tuple[Tensor, Tensor]: Features (N, D) and logits (N, K), float64 on the CPU.
    """
    features, logits, batch = [], [], []

    def flush():
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).contiguous().to(device)
        feature, logit = extractor(x)
        features.append(feature.double().cpu())
        logits.append(logit.double().cpu())
        batch.clear()

    for img in images:
        if batch and (len(batch) == batch_size or img.shape != batch[0].shape):
            flush()
        batch.append(img)
    flush()
    return torch.cat(features), torch.cat(logits)


def calculate_fid_is(samples, reference, extractor=None, inception_path=None, batch_size=64, device='cpu',
                     isc_splits=10):
    """FID of ``samples`` against ``reference`` and the Inception Score of ``samples`` (torch-fidelity's formulas).

    Args:
        samples (str | list[ndarray]): Folder or list of uint8 RGB generated images.
        reference (str | list[ndarray]): Folder or list of uint8 RGB real images (e.g. the CIFAR-10 train set).
        extractor (callable | None): Feature extractor as in :func:`extract_features`. Default: None (InceptionV3).
        inception_path (str | None): InceptionV3 weights (``INCEPTION_FILE``). Default: None (torch.hub's checkpoint
            folder).
        batch_size (int): Images per batch. Default: 64.
        device (str): Device. Default: 'cpu'.
        isc_splits (int): Splits of the Inception Score. Default: 10.

    Returns:
        dict: ``fid``, ``is_mean`` and ``is_std``.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
    extractor = extractor or build_inception(inception_path, device)
    samples = read_images(samples) if isinstance(samples, str) else samples
    reference = read_images(reference) if isinstance(reference, str) else reference
    sample_features, sample_logits = extract_features(samples, extractor, batch_size, device)
    reference_features, _ = extract_features(reference, extractor, batch_size, device)
    fid = fid_statistics_to_metric(fid_features_to_statistics(sample_features),
                                   fid_features_to_statistics(reference_features), verbose=False)[KEY_METRIC_FID]
    isc = isc_features_to_metric(sample_logits, splits=isc_splits)
    return dict(fid=fid, is_mean=isc[KEY_METRIC_ISC_MEAN], is_std=isc[KEY_METRIC_ISC_STD])
