"""Diversity of the SR samples of one LR image: the NTIRE 2021 Learning the SR Space score and the pixel spread."""
import numpy as np
import torch
from basicsr.utils.registry import METRIC_REGISTRY

from srddgan_arch.device import default_device
from srddgan_arch.metrics.lpips_metric import get_lpips, uint8_to_lpips_tensor


def diversity_score(lpips_maps):
    """(global best - local best) / global best · 100 from the spatial LPIPS maps of N samples against the GT.

    The global best is the lowest mean LPIPS of one sample; the local best is the mean over pixels of the per-pixel
    minimum over samples. Identical samples score 0; samples that are each best in different places score higher.

    Args:
        lpips_maps (Tensor): Spatial LPIPS maps, shape (N, H, W) (or (N, ...)).

    Returns:
        float: The score in [0, 100]; 0 where the global best is 0 (a sample equals the GT).
    """
    maps = torch.as_tensor(lpips_maps, dtype=torch.float64).flatten(1)
    global_best = maps.mean(dim=1).min()
    local_best = maps.min(dim=0).values.mean()
    if global_best <= 0:
        return 0.0
    return ((global_best - local_best) / global_best * 100).item()


@METRIC_REGISTRY.register()
def calculate_diversity(samples, img2, net='alex', backbone_path=None, bgr=True, **kwargs):
    """NTIRE 2021 diversity score of the SR samples of one LR image against its GT (higher is more diverse).

    Args:
        samples (list[ndarray]): N uint8 SR samples, each (H, W, 3).
        img2 (ndarray): uint8 GT image, (H, W, 3), same channel order.
        net (str): LPIPS backbone: 'alex', 'vgg' or 'squeeze'. Default: 'alex'.
        backbone_path (str | None): LPIPS backbone file (see ``lpips_metric.build_lpips``). Default: None
            (torchvision's cache).
        bgr (bool): The images are BGR (BasicSR's order). Default: True.
        kwargs: Other metric data and options (e.g. ``lq``, ``better``), ignored.

    Returns:
        float: The diversity score in [0, 100].
    """
    if len(samples) == 0:
        raise ValueError('calculate_diversity needs at least one sample in samples.')
    shapes = {sample.shape for sample in samples}
    if shapes != {img2.shape}:
        raise ValueError(f'calculate_diversity: sample shapes {sorted(shapes)} differ from the GT shape {img2.shape}.')
    device = default_device()
    model = get_lpips(net, True, backbone_path, device)
    gt = uint8_to_lpips_tensor(img2, device, bgr)
    with torch.no_grad():
        maps = torch.cat([model(uint8_to_lpips_tensor(sample, device, bgr), gt) for sample in samples])
    return diversity_score(maps.cpu())


@METRIC_REGISTRY.register()
def calculate_sample_std(samples, **kwargs):
    """Pixel diversity of the SR samples of one LR image: the standard deviation across the samples of every pixel
    value (uint8 scale, 0-255), averaged over pixels and channels. A deterministic model scores 0.

    Args:
        samples (list[ndarray]): N >= 2 SR samples, each (H, W, C), uint8.
        kwargs: Other metric data and options (e.g. ``img2``, ``lq``), ignored.

    Returns:
        float: The mean per-pixel standard deviation.
    """
    if len(samples) < 2:
        raise ValueError(f'calculate_sample_std needs at least 2 samples, got {len(samples)}.')
    return float(np.stack(samples).astype(np.float64).std(axis=0).mean())
