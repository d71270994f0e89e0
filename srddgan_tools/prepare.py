"""Common pieces of the data preparation scripts (``scripts/prepare_*.py``).

Every script reads ``--input DIR [DIR ...] --output DIR [--lmdb] [--workers N]``, writes a split folder laid out as

    <split>/HR/<name>.png, <split>/LR_bicubic_X<s>/<name>.png, <split>/meta_info.txt
    (with --lmdb also <split>/HR.lmdb and <split>/LR_bicubic_X<s>.lmdb)

that BasicSR's ``PairedImageDataset`` loads from disk or LMDB, shows tqdm progress bars and ends with one summary line.
LR images are made from the rounded uint8 HR with BasicSR's MATLAB-style bicubic ``imresize``.
"""
import argparse
import os
from multiprocessing import Pool
from os import path as osp

from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from basicsr.utils.matlab_functions import imresize
from tqdm import tqdm

from srddgan_arch.data.image_files import IMAGE_EXTENSIONS, list_images
from srddgan_arch.data.image_io import read_image, to_uint8, write_image
from srddgan_arch.data.preflight import INCOMPLETE_MARKER

HR_FOLDER = 'HR'
META_INFO_FILE = 'meta_info.txt'


def lr_folder(scale):
    """Name of the bicubic LR folder for ``scale``, e.g. ``LR_bicubic_X4``."""
    return f'LR_bicubic_X{scale}'


def build_parser(description, needs_input=True, default_output=None):
    """The common argument parser; scripts add their own options to it.

    Args:
        description (str): Shown by ``--help``.
        needs_input (bool): Whether ``--input`` is required. Default: True.
        default_output (str | None): Default of ``--output``; None makes it required. Default: None.

    Returns:
        argparse.ArgumentParser: Parser with ``--input``, ``--output``, ``--lmdb`` and ``--workers``.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', nargs='+', required=needs_input, metavar='DIR', help='input folder(s)')
    parser.add_argument('--output', required=default_output is None, default=default_output, metavar='DIR',
                        help='output folder')
    parser.add_argument('--lmdb', action='store_true', help='also write LMDB copies of every image folder')
    parser.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1), metavar='N',
                        help='worker processes (1: run in this process)')
    return parser


def list_input_images(folders, output):
    """Image files under ``folders`` (recursively), sorted, with unique file stems; an output folder inside (or
    equal to) an input folder is refused: a later run would read the output as input.

    Args:
        folders (list[str]): Input folders.
        output (str): The output folder.

    Returns:
        list[str]: Paths of the image files.
    """
    paths = {}
    for folder in folders:
        if not osp.isdir(folder):
            raise FileNotFoundError(f'--input: folder {folder} does not exist.')
        if osp.commonpath([osp.realpath(folder), osp.realpath(output)]) == osp.realpath(folder):
            raise ValueError(f'--output {output} is inside --input {folder}: a later run would read the prepared '
                             'images as input; choose an output folder outside the input folders.')
        for path in list_images(folder, recursive=True):
            stem = osp.splitext(osp.basename(path))[0]
            if stem in paths:
                raise ValueError(f'--input: two images named {stem!r}: {paths[stem]} and {path}; '
                                 'output names must be unique.')
            paths[stem] = path
    if not paths:
        raise FileNotFoundError(f'--input: no images ({", ".join(IMAGE_EXTENSIONS)}) found in {", ".join(folders)}.')
    return sorted(paths.values())


def check_output_free(split_dirs, lmdb, scales):
    """Refuse to mix a new data set into an old one, then mark each split incomplete (:func:`mark_incomplete`)
    until :func:`finish_split` has written its last file.

    Args:
        split_dirs (list[str]): Split folders about to be written.
        lmdb (bool): Whether LMDB folders will be written too.
        scales (list[int]): LR scales.
    """
    for split_dir in split_dirs:
        folders = [HR_FOLDER] + [lr_folder(s) for s in scales]
        targets = folders + ([f'{f}.lmdb' for f in folders] if lmdb else [])
        for target in targets:
            if osp.exists(osp.join(split_dir, target)):
                raise FileExistsError(f'--output: {osp.join(split_dir, target)} already exists; '
                                      'remove it or choose another output folder.')
    mark_incomplete(split_dirs)


def mark_incomplete(split_dirs):
    """Write the ``INCOMPLETE_MARKER`` file into each split folder: a preparation stopped half-way (Ctrl-C, a kill)
    leaves it, and training refuses the folder (``data/preflight.py``) instead of using the pairs written so far.

    Args:
        split_dirs (list[str]): Split folders about to be written.
    """
    for split_dir in split_dirs:
        os.makedirs(split_dir, exist_ok=True)
        with open(osp.join(split_dir, INCOMPLETE_MARKER), 'w') as f:
            f.write('srddgan data preparation in progress: this split is incomplete until this file is gone.\n')


def run_tasks(func, tasks, workers, desc):
    """Run ``func`` on every task with a progress bar, in ``workers`` processes (in this process when 1).

    Args:
        func (callable): Module-level function of one task (it must pickle).
        tasks (list): The tasks.
        workers (int): Number of processes.
        desc (str): Progress bar label.

    Returns:
        list: ``func``'s results, in task order.
    """
    if workers < 1:
        raise ValueError(f'--workers must be at least 1, got {workers}.')
    with tqdm(total=len(tasks), desc=desc, unit='task') as bar:
        if workers == 1 or len(tasks) == 1:
            results = []
            for task in tasks:
                results.append(func(task))
                bar.update()
            return results
        with Pool(min(workers, len(tasks))) as pool:
            results = []
            for result in pool.imap(func, tasks):
                results.append(result)
                bar.update()
            return results


def bicubic_downscale(img, scale):
    """Downscale by an integer factor with BasicSR's MATLAB-style antialiased bicubic ``imresize``.

    Args:
        img (ndarray): Float image in [0, 1], (h, w, c), h and w divisible by ``scale``.
        scale (int): Downscaling factor.

    Returns:
        ndarray: Float image (h / scale, w / scale, c), not rounded.
    """
    h, w = img.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'image size {h}x{w} is not divisible by the scale {scale}.')
    return imresize(img, 1 / scale)


def write_png(img, path):
    """Write a [0, 1] float BGR image as an 8-bit PNG (creating the folder; ``write_image``: through a temporary
    file, never through a link)."""
    write_image(path, img)


def save_hr_lr(hr, name, split_dir, scales):
    """Write ``HR/<name>.png`` and, for each scale, ``LR_bicubic_X<s>/<name>.png`` made from the rounded HR.

    Args:
        hr (ndarray): Float BGR HR image in [0, 1], sides divisible by every scale.
        name (str): File stem.
        split_dir (str): Split folder.
        scales (list[int]): LR scales.
    """
    hr = to_uint8(hr).astype('float32') / 255.
    write_png(hr, osp.join(split_dir, HR_FOLDER, f'{name}.png'))
    for scale in scales:
        write_png(bicubic_downscale(hr, scale), osp.join(split_dir, lr_folder(scale), f'{name}.png'))


def sub_image_corners(h, w, crop_size, step, thresh_size=0):
    """Top-left corners of the ``crop_size`` sub-images of an h x w image (BasicSR's extract_subimages grid).

    The last row/column of crops is aligned to the border when more than ``thresh_size`` pixels would be left.

    Args:
        h (int): Image height.
        w (int): Image width.
        crop_size (int): Sub-image side.
        step (int): Grid step.
        thresh_size (int): Leftover pixels below which the border crop is dropped. Default: 0.

    Returns:
        list[tuple[int, int]]: (top, left) corners; empty when the image is smaller than ``crop_size``.
    """
    def starts(length):
        if length < crop_size:
            return []
        positions = list(range(0, length - crop_size + 1, step))
        if length - (positions[-1] + crop_size) > thresh_size:
            positions.append(length - crop_size)
        return positions
    return [(top, left) for top in starts(h) for left in starts(w)]


def write_meta_info(split_dir):
    """Write ``meta_info.txt`` (``name.png (h,w,c)`` per HR image, BasicSR's format) and return the HR names."""
    names = [osp.basename(path) for path in list_images(osp.join(split_dir, HR_FOLDER))]
    with open(osp.join(split_dir, META_INFO_FILE), 'w') as f:
        for name in names:
            h, w, c = read_image(osp.join(split_dir, HR_FOLDER, name)).img.shape
            f.write(f'{name} ({h},{w},{c})\n')
    return names


def write_lmdb(folder, names):
    """LMDB copy ``<folder>.lmdb`` of the PNGs ``names`` in ``folder`` (BasicSR's ``make_lmdb_from_imgs``)."""
    map_size = 10 * sum(osp.getsize(osp.join(folder, n)) for n in names) + (64 << 20)
    make_lmdb_from_imgs(folder, f'{folder}.lmdb', names, [osp.splitext(n)[0] for n in names], map_size=map_size)


def finish_split(split_dir, scales, lmdb):
    """Write the meta_info file and, with ``lmdb``, the LMDB copies of a split.

    Args:
        split_dir (str): Split folder.
        scales (list[int]): LR scales.
        lmdb (bool): Whether to write LMDB copies.

    Returns:
        int: Number of HR/LR pairs in the split.
    """
    names = write_meta_info(split_dir)
    if lmdb:
        for folder in [HR_FOLDER] + [lr_folder(s) for s in scales]:
            write_lmdb(osp.join(split_dir, folder), names)
    if osp.exists(osp.join(split_dir, INCOMPLETE_MARKER)):  # removed last: the split is complete
        os.remove(osp.join(split_dir, INCOMPLETE_MARKER))
    return len(names)
