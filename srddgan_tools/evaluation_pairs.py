"""The images a quality benchmark scores: GT/LR pairs (the LR checked to be the GT's bicubic downscale unless it was
made by another degradation), or LR images alone (no ground truth)."""
from os import path as osp

from srddgan_arch.data.image_files import list_images
from srddgan_arch.data.image_io import read_image, to_uint8
from srddgan_arch.metrics.lr_psnr_metric import calculate_lr_psnr

# LR against the MATLAB-bicubic downscale of its GT, measured on the demo's held-out and validation photographs:
# MATLAB bicubic exact (inf), Pillow's antialiased bicubic 51-57 dB, swapped pairs 8-18 dB; OpenCV's INTER_CUBIC
# (no antialiasing) 26-35 dB, mostly below this bound: it counts as another degradation (--degraded_lq)
BICUBIC_LR_MIN_PSNR = 30


def load_pairs(gt_dir, lq_dir, scale, filename_tmpl='{}', max_images=None, degraded_lq=False):
    """(name, gt, lq) uint8 BGR triples; without ``lq_dir`` the LR is BasicSR's MATLAB bicubic of the cropped GT, with
    it the GT is cropped to scale x the LR as BasicSR's paired data set crops it (491x365 at x4: 488x364).
    Given LR images must be the bicubic downscale of their GT (above ``BICUBIC_LR_MIN_PSNR`` against it: a swapped
    or foreign file is refused, naming it) unless ``degraded_lq`` says they were made by another degradation."""
    from basicsr.utils.matlab_functions import imresize
    pairs, foreign = [], []
    for gt_path in list_images(gt_dir)[:max_images]:
        name = osp.basename(gt_path)
        gt = to_uint8(read_image(gt_path).img)
        if lq_dir:
            stem, ext = osp.splitext(name)
            lq_path = osp.join(lq_dir, filename_tmpl.format(stem) + ext)
            if not osp.isfile(lq_path):
                raise FileNotFoundError(f'--lq: no LR image {lq_path} for the GT {name} (see --filename_tmpl).')
            lq = to_uint8(read_image(lq_path).img)
            if all(0 <= g - s * scale < scale for g, s in zip(gt.shape[:2], lq.shape[:2], strict=True)):
                gt = gt[:lq.shape[0] * scale, :lq.shape[1] * scale]  # mod-cropped, as BasicSR's paired data set
        else:
            gt = gt[:gt.shape[0] // scale * scale, :gt.shape[1] // scale * scale]
            lq = to_uint8(imresize(gt / 255., 1 / scale))
        if gt.shape[:2] != (lq.shape[0] * scale, lq.shape[1] * scale):
            raise ValueError(f'{name}: GT {gt.shape[:2]} is not {scale} x LR {lq.shape[:2]}.')
        # the GT's LR-PSNR against the LR: how far the LR is from the GT's MATLAB-bicubic downscale
        if lq_dir and not degraded_lq and (psnr := calculate_lr_psnr(gt, lq)) < BICUBIC_LR_MIN_PSNR:
            foreign.append(f'{lq_path} ({psnr:.1f} dB)')
        pairs.append((name, gt, lq))
    if not pairs:
        raise FileNotFoundError(f'--gt: no images in {gt_dir}.')
    if foreign:
        raise ValueError(f'--lq: {len(foreign)} LR images are not the x{scale} bicubic downscale of their GT (below '
                         f'{BICUBIC_LR_MIN_PSNR} dB against it): {", ".join(foreign)}. Wrong files, or LR images made '
                         'by another degradation (then give --degraded_lq).')
    return pairs


def load_lr_images(lq_dir, max_images=None):
    """(name, None, lq) uint8 BGR triples of the LR images of ``lq_dir``: scoring without ground truth."""
    pairs = [(osp.basename(path), None, to_uint8(read_image(path).img)) for path in list_images(lq_dir)[:max_images]]
    if not pairs:
        raise FileNotFoundError(f'--lq: no images in {lq_dir}.')
    return pairs
