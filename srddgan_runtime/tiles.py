"""Seamless tiling in numpy: an image upsampled tile by tile, overlapping tiles blended by linear ramps (both backends:
``srddgan_arch.inference.tiling`` runs its torch tiles through the same blending)."""
import numpy as np


def blend_ramp(length, overlap_before, overlap_after):
    """1-D blending weight of a tile: 1 inside, linear ramps across the overlaps with its neighbours.

    Over an overlap of L pixels the weight is 0 on the outer quarter (where the tile border disturbs the network),
    rises linearly over the middle half and is 1 on the inner quarter, so two neighbours' weights add up to 1.

    Args:
        length (int): Tile length in output pixels.
        overlap_before (int): Overlap with the previous tile in output pixels (0 at the image border).
        overlap_after (int): Overlap with the next tile in output pixels (0 at the image border).

    Returns:
        ndarray: float32 weights (length,).
    """
    position = np.arange(length, dtype=np.float32) + np.float32(0.5)
    weight = np.ones(length, dtype=np.float32)
    if overlap_before:
        weight = weight * np.clip((position - overlap_before / 4) / (overlap_before / 2), 0, 1)
    if overlap_after:
        weight = weight * np.clip((length - position - overlap_after / 4) / (overlap_after / 2), 0, 1)
    return weight


def blend_tiles(upsample_box, shape, scale, tile, tile_pad=10, progress=False):
    """Upsample an image of ``shape`` tile by tile with overlaps of 2 * ``tile_pad`` LR pixels, blended seamlessly.

    Args:
        upsample_box (callable): ``upsample_box(top, bottom, left, right)`` upsamples that LR box of the image and
            returns a float32 array (B, C', (bottom - top) * scale, (right - left) * scale).
        shape (tuple[int]): The LR image shape (B, C, H, W).
        scale (int): Upsampling factor.
        tile (int): Tile size in LR pixels (without padding), > 0.
        tile_pad (int): LR pixels of context added on each inner side of a tile. Default: 10.
        progress (bool): Show a progress bar over the tiles (tqdm). Default: False.

    Returns:
        ndarray: The upsampled images (B, C', H * scale, W * scale), float32.
    """
    if tile_pad < 0:
        raise ValueError(f'tile_pad must be >= 0, got {tile_pad}.')
    height, width = shape[2:]
    overlap = 2 * tile_pad * scale
    out, weight_sum = None, np.zeros((1, 1, height * scale, width * scale), dtype=np.float32)
    boxes = [(y, x) for y in range(0, height, tile) for x in range(0, width, tile)]
    if progress:
        from tqdm import tqdm

        boxes = tqdm(boxes, desc='tiles', unit='tile', leave=False)
    for y, x in boxes:
        top, left = max(y - tile_pad, 0), max(x - tile_pad, 0)
        bottom, right = min(y + tile + tile_pad, height), min(x + tile + tile_pad, width)
        tile_out = upsample_box(top, bottom, left, right)
        if out is None:
            out = np.zeros((shape[0], tile_out.shape[1], height * scale, width * scale), dtype=np.float32)
        ramp_y = blend_ramp(tile_out.shape[2], overlap * (top > 0), overlap * (bottom < height))
        ramp_x = blend_ramp(tile_out.shape[3], overlap * (left > 0), overlap * (right < width))
        weight = ramp_y[:, None] * ramp_x[None, :]
        region = (slice(None), slice(None), slice(top * scale, bottom * scale), slice(left * scale, right * scale))
        out[region] += tile_out * weight
        weight_sum[region] += weight
    return out / np.maximum(weight_sum, np.float32(1e-8))
