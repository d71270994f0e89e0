"""Content fusion (paper "Extensions"): paste a region of one HR image into another, downscale, super-resolve."""
import numpy as np


def content_fusion(upsampler, source, target, box, num_samples=4, seed=0):
    """Paste a region of ``target`` into ``source``, downscale the composite, super-resolve it with several z.

    Args:
        upsampler (srddgan_arch.inference.upsampler.SRDDGANer): The SR model.
        source (ndarray): HR image, float BGR (H, W, 3) in [0, 1]; H and W are cropped to multiples of the scale.
        target (ndarray): HR image of the same size, the region's donor.
        box (tuple[int]): Region (x, y, w, h) in HR pixels.
        num_samples (int): Number of SR samples (z draws). Default: 4.
        seed (int): Seed of the first sample; sample i uses seed + i. Default: 0.

    Returns:
        dict: ``composite`` (HR input), ``lq`` (its bicubic downscale), ``samples`` (SR images) and ``fused``
        (source with the region taken from each sample), all float BGR in [0, 1].
    """
    from basicsr.utils.matlab_functions import imresize
    if source.shape != target.shape:
        raise ValueError(f'source and target must have the same size, got {source.shape} and {target.shape}.')
    scale = upsampler.scale
    height, width = source.shape[0] // scale * scale, source.shape[1] // scale * scale
    x, y, w, h = box
    if not (0 <= x < x + w <= width and 0 <= y < y + h <= height):
        raise ValueError(f'box (x, y, w, h) = {tuple(box)} is not inside the {width}x{height} image.')
    source, target = source[:height, :width], target[:height, :width]
    composite = source.copy()
    composite[y:y + h, x:x + w] = target[y:y + h, x:x + w]
    lq = np.clip(imresize(composite, 1 / scale), 0, 1)
    samples = [upsampler.enhance(lq, seed=seed + i) for i in range(num_samples)]
    fused = []
    for sr in samples:
        image = source.copy()
        image[y:y + h, x:x + w] = sr[y:y + h, x:x + w]
        fused.append(image)
    return dict(composite=composite, lq=lq, samples=samples, fused=fused)
