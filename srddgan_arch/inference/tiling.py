"""Seamless tiling: upsample an image tile by tile with overlapping tiles blended by linear ramps
(``srddgan_runtime.tiles``, shared with the ONNX Runtime backend)."""
import torch

from srddgan_runtime.tiles import blend_tiles


def tile_upsample(upsample_fn, img, scale, tile, tile_pad, progress=False):
    """Upsample ``img`` tile by tile with overlaps of 2 * ``tile_pad`` LR pixels and seamless linear blending.

    Args:
        upsample_fn (callable): Maps an LR tensor (1, C, h, w) to its upsampled version (1, C', h * scale, w * scale).
        img (Tensor): LR images (B, C, H, W).
        scale (int): Upsampling factor of ``upsample_fn``.
        tile (int): Tile size in LR pixels (without padding); 0 upsamples the whole image at once (see
            ``RunSettings`` for the defaults).
        tile_pad (int): LR pixels of context added on each inner side of a tile.
        progress (bool): Show a progress bar over the tiles. Default: False.

    Returns:
        Tensor: The upsampled images (B, C', H * scale, W * scale), float32, on the CPU when tiled.
    """
    height, width = img.shape[2:]
    if tile <= 0 or (height <= tile and width <= tile):
        return upsample_fn(img).float()

    def upsample_box(top, bottom, left, right):
        return upsample_fn(img[:, :, top:bottom, left:right]).float().cpu().numpy()

    return torch.from_numpy(blend_tiles(upsample_box, img.shape, scale, tile, tile_pad, progress))
