"""Realism without downloaded weights: the sliced Wasserstein distance (SWD) between the Laplacian-pyramid patch
distributions of an SR image and of its HR image (Karras et al. 2018, "Progressive Growing of GANs", section 5).

Every pyramid level (band-pass details at each octave, the coarsest Gaussian level last) is cut into 7x7 colour
patches; the SWD compares the two sets of patches as distributions, not pixel by pixel: an image with the HR's kind of
texture in other places scores well (low), a blurred one, whose patches have too little contrast, or a noisy one
scores badly. So it ranks what PSNR cannot: sharp, plausible detail against smooth averages.

Unlike Karras et al., who normalise each set by its own statistics, both sets here are normalised by the HR's
per-level, per-channel mean and standard deviation, so that a loss of contrast at a level counts (our SR images share
the HR's colours; what differs is how much detail each level holds).
"""
import cv2
import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY

PATCH_SIZE = 7  # Karras et al.'s 7x7 neighbourhoods
MIN_LEVEL_SIZE = 16  # the coarsest level of the pyramid (Karras et al.: 16x16)


def laplacian_pyramid(img, min_size=MIN_LEVEL_SIZE):
    """Laplacian pyramid of an image, finest level first, the coarsest Gaussian level last.

    Args:
        img (ndarray): Image (H, W, C), float.
        min_size (int): Stop when halving again would go below this side. Default: 16.

    Returns:
        list[ndarray]: The levels, each (h, w, C) float32.
    """
    channels = img.shape[2]
    levels, current = [], img.astype(np.float32)
    while min(current.shape[:2]) // 2 >= min_size:
        down = cv2.pyrDown(current).reshape((current.shape[0] + 1) // 2, (current.shape[1] + 1) // 2, channels)
        up = cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0])).reshape(current.shape)
        levels.append(current - up)  # (OpenCV drops a single channel's axis: the reshapes keep it)
        current = down
    levels.append(current)
    return levels


def _patches(level, corners):
    """The (N, PATCH_SIZE * PATCH_SIZE * C) patches of one level at the given top-left corners."""
    offsets = np.arange(PATCH_SIZE)
    rows = corners[:, 0, None, None] + offsets[None, :, None]
    cols = corners[:, 1, None, None] + offsets[None, None, :]
    return level[rows, cols].reshape(len(corners), -1)


def sliced_wasserstein(a, b, directions):
    """Sliced Wasserstein distance between two equal-size point sets: the mean over the directions of the mean
    absolute difference of the sorted projections (the 1-D Wasserstein-1 distance along each direction).

    Args:
        a (ndarray): Points (N, D).
        b (ndarray): Points (N, D).
        directions (ndarray): Unit directions (D, P).

    Returns:
        float: The distance.
    """
    if a.shape != b.shape:
        raise ValueError(f'sliced_wasserstein: point sets of shapes {a.shape} and {b.shape}; expected equal shapes.')
    projected_a = np.sort(a @ directions, axis=0)
    projected_b = np.sort(b @ directions, axis=0)
    return float(np.abs(projected_a - projected_b).mean())


@METRIC_REGISTRY.register()
def calculate_swd(img, img2, crop_border=0, num_patches=2048, num_projections=512, seed=0, **kwargs):
    """Sliced Wasserstein distance between the Laplacian-pyramid patch distributions of an SR image and its HR image
    (lower is more like the HR; 0 for the HR itself), averaged over the pyramid levels.

    The same patch positions are drawn in both images and the same random directions used for every level, from
    ``seed``: the score of an image is deterministic.

    Args:
        img (ndarray): SR image (H, W, C), BGR, 0-255.
        img2 (ndarray): HR image, same shape.
        crop_border (int): Pixels cut from each border. Default: 0.
        num_patches (int): Patches per level (all positions where a level has fewer). Default: 2048.
        num_projections (int): Random directions. Default: 512 (Karras et al.: 4 x 128).
        seed (int): Seed of the positions and directions. Default: 0.
        kwargs: Other metric data and options (e.g. ``lq``), ignored.

    Returns:
        float: The distance, in HR standard deviations.
    """
    if img.shape != img2.shape:
        raise ValueError(f'SWD: image shapes differ: {img.shape} and {img2.shape}.')
    if crop_border:
        img, img2 = (x[crop_border:-crop_border, crop_border:-crop_border] for x in (img, img2))
    if min(img.shape[:2]) < MIN_LEVEL_SIZE:
        raise ValueError(f'SWD: a {img.shape[1]}x{img.shape[0]} image is below the {MIN_LEVEL_SIZE}-pixel pyramid '
                         'level it needs.')
    img, img2 = (x[..., None] if x.ndim == 2 else x for x in (img, img2))
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((PATCH_SIZE * PATCH_SIZE * img.shape[2], num_projections)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    distances = []
    for level, reference in zip(laplacian_pyramid(img), laplacian_pyramid(img2), strict=True):
        height, width = level.shape[0] - PATCH_SIZE + 1, level.shape[1] - PATCH_SIZE + 1
        positions = np.arange(height * width)
        if len(positions) > num_patches:
            positions = rng.choice(positions, num_patches, replace=False)
        corners = np.stack([positions // width, positions % width], axis=1)
        mean = reference.mean(axis=(0, 1))
        std = np.maximum(reference.std(axis=(0, 1)), 1e-3)  # a flat HR level: its contrast in 0-255 units
        normalised = [_patches((x - mean) / std, corners) for x in (level, reference)]
        distances.append(sliced_wasserstein(*normalised, directions))
    return float(np.mean(distances))
