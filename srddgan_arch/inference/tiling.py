"""Seamless tiling: upsample an image tile by tile with overlapping tiles blended by linear ramps."""
import torch
from tqdm import tqdm


def _blend_ramp(length, overlap_before, overlap_after):
    """1-D blending weight of a tile: 1 inside, linear ramps across the overlaps with its neighbours.

    Over an overlap of L pixels the weight is 0 on the outer quarter (where the tile border disturbs the network),
    rises linearly over the middle half and is 1 on the inner quarter, so two neighbours' weights add up to 1.

    Args:
        length (int): Tile length in output pixels.
        overlap_before (int): Overlap with the previous tile in output pixels (0 at the image border).
        overlap_after (int): Overlap with the next tile in output pixels (0 at the image border).

    Returns:
        Tensor: Weights (length,).
    """
    position = torch.arange(length, dtype=torch.float32) + 0.5
    weight = torch.ones(length)
    if overlap_before:
        weight = weight * ((position - overlap_before / 4) / (overlap_before / 2)).clamp(0, 1)
    if overlap_after:
        weight = weight * ((length - position - overlap_after / 4) / (overlap_after / 2)).clamp(0, 1)
    return weight


def tile_upsample(upsample_fn, img, scale, tile, tile_pad, progress=False):
    """Upsample ``img`` tile by tile with overlaps of 2 * ``tile_pad`` LR pixels and seamless linear blending.

    Args:
        upsample_fn (callable): Maps an LR tensor (1, C, h, w) to its upsampled version (1, C', h * scale, w * scale).
        img (Tensor): LR images (B, C, H, W).
        scale (int): Upsampling factor of ``upsample_fn``.
        tile (int): Tile size in LR pixels (without padding); 0 upsamples the whole image at once (see
            ``InferenceSettings`` for the defaults).
        tile_pad (int): LR pixels of context added on each inner side of a tile.
        progress (bool): Show a progress bar over the tiles. Default: False.

    Returns:
        Tensor: The upsampled images (B, C', H * scale, W * scale), float32, on the CPU when tiled.
    """
    height, width = img.shape[2:]
    if tile <= 0 or (height <= tile and width <= tile):
        return upsample_fn(img).float()
    if tile_pad < 0:
        raise ValueError(f'tile_pad must be >= 0, got {tile_pad}.')
    overlap = 2 * tile_pad * scale
    out, weight_sum = None, torch.zeros(1, 1, height * scale, width * scale)
    boxes = [(y, x) for y in range(0, height, tile) for x in range(0, width, tile)]
    for y, x in tqdm(boxes, desc='tiles', unit='tile', disable=not progress, leave=False):
        top, left = max(y - tile_pad, 0), max(x - tile_pad, 0)
        bottom, right = min(y + tile + tile_pad, height), min(x + tile + tile_pad, width)
        tile_out = upsample_fn(img[:, :, top:bottom, left:right]).float().cpu()
        if out is None:
            out = torch.zeros(img.shape[0], tile_out.shape[1], height * scale, width * scale)
        ramp_y = _blend_ramp(tile_out.shape[2], overlap * (top > 0), overlap * (bottom < height))
        ramp_x = _blend_ramp(tile_out.shape[3], overlap * (left > 0), overlap * (right < width))
        weight = ramp_y[:, None] * ramp_x[None, :]
        region = (slice(None), slice(None), slice(top * scale, bottom * scale), slice(left * scale, right * scale))
        out[region] += tile_out * weight
        weight_sum[region] += weight
    return out / weight_sum.clamp(min=1e-8)
