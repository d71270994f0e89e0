"""The benchmark convention: one metric set, written once, for srddgan-test's option files (``options/test_*.yml``)
and ``scripts/benchmark_quality.py``, so that tables of SRDDGAN, RRDB, ESRGAN and SwinIR line up without hand work.

PSNR and SSIM come twice: the paper's convention (RGB, uint8, no border crop, as SRFlow and SRDiff report: ``psnr``,
``ssim``) and BasicSR's (Y channel, ``scale`` pixels of border cropped, as BasicSR's and ESRGAN's test files report:
``psnr_y``, ``ssim_y``). LR-PSNR (SRFlow), LPIPS (AlexNet) and NIQE (no reference) once each; diversity (NTIRE 2021)
for stochastic methods only.
"""


def benchmark_metrics(scale, stochastic, backbone_path=None, niqe=True):
    """The ``val.metrics`` entries of the benchmark convention, as BasicSR's test pipeline reads them.

    Args:
        scale (int): The SR scale (the border BasicSR's convention crops).
        stochastic (bool): The method draws several samples per LR image: add ``diversity``.
        backbone_path (str | None): AlexNet backbone file of LPIPS and diversity. Default: None (torchvision's
            cache, as the option files leave it).
        niqe (bool): Include NIQE (images of at least ``NIQE_MIN_SIDE`` pixels a side, ``options/signatures.py``).
            Default: True.

    Returns:
        dict: metric name -> {'type': registered metric function, its keyword arguments}.
    """
    metrics = {
        'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
        'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False},
        'psnr_y': {'type': 'calculate_psnr', 'crop_border': scale, 'test_y_channel': True},
        'ssim_y': {'type': 'calculate_ssim', 'crop_border': scale, 'test_y_channel': True},
        'lr_psnr': {'type': 'calculate_lr_psnr', 'crop_border': 0},
        'lpips': {'type': 'calculate_lpips', 'net': 'alex', 'better': 'lower'},
        'niqe': {'type': 'calculate_niqe', 'crop_border': 0, 'better': 'lower'},
    }
    if not niqe:
        del metrics['niqe']
    if stochastic:
        metrics['diversity'] = {'type': 'calculate_diversity', 'net': 'alex'}
    if backbone_path is not None:
        for name in ('lpips', 'diversity'):
            if name in metrics:
                metrics[name]['backbone_path'] = backbone_path
    return metrics
