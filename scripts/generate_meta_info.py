"""Write the meta_info file of an HR folder: the list of training images Real-ESRGAN's data set reads.

Example: python scripts/generate_meta_info.py --input datasets/DF2K/train/HR \
    --meta_info datasets/DF2K/train/meta_info_realesrgan.txt --min_size 400

One line per image, its path relative to ``--input`` (Real-ESRGAN's format; ``RealESRGANDataset`` joins it to
``dataroot_gt``: give ``--input`` as ``dataroot_gt``). Files whose header cannot be read and, with ``--min_size``,
images with a side below it (the data set's ``crop_pad_size``, which refuses them) are left out and listed. The file
is written to a temporary file beside it and renamed; an existing file is kept unless ``--force``.
"""
import argparse
import os
import sys
from os import path as osp

from srddgan_arch.cli_errors import run_main
from srddgan_arch.data.image_files import list_images
from srddgan_arch.data.image_io import read_header


def write_meta_info(folder, meta_info, recursive=True, min_size=None, force=False):
    """Write the meta_info file of ``folder``.

    Args:
        folder (str): HR folder (``dataroot_gt``).
        meta_info (str): Output file.
        recursive (bool): Also list sub-folders. Default: True.
        min_size (int | None): Leave out images with a side below it. Default: None.
        force (bool): Replace an existing ``meta_info``. Default: False.

    Returns:
        tuple[int, list[str]]: Lines written, and the left-out images with the reason.
    """
    if osp.exists(meta_info) and not force:
        raise FileExistsError(f'--meta_info {meta_info} exists; give --overwrite to replace it.')
    lines, left_out = [], []
    for path in list_images(folder, recursive=recursive):
        name = osp.relpath(path, folder)
        header = read_header(path)
        if any(character.isspace() for character in name):
            left_out.append(f'{name}: white space in the path (the data set reads a line up to its first space)')
        elif header is None:
            left_out.append(f'{name}: not a readable image')
        elif min_size is not None and min(header.height, header.width) < min_size:
            left_out.append(f'{name}: {header.width}x{header.height}, smaller than --min_size {min_size}')
        else:
            lines.append(f'{name}\n')
    if not lines:
        raise ValueError(f'--input {folder}: no image to list ({len(left_out)} left out).')
    os.makedirs(osp.dirname(osp.abspath(meta_info)), exist_ok=True)
    tmp_path = f'{meta_info}.tmp{os.getpid()}'
    try:
        with open(tmp_path, 'w') as f:
            f.writelines(lines)
        os.replace(tmp_path, meta_info)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
    return len(lines), left_out


def main(argv=None):
    """Parse ``argv`` (default: the command line), write the file and report; returns ``write_meta_info``'s tuple."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='HR folder (the data set\'s dataroot_gt).')
    parser.add_argument('--meta_info', required=True, help='Output file.')
    parser.add_argument('--min_size', type=int, help='Leave out images with a side below this (crop_pad_size).')
    parser.add_argument('--no_recursive', action='store_true', help='Only the folder itself, not its sub-folders.')
    parser.add_argument('--overwrite', '--force', dest='force', action='store_true',
                        help='Replace an existing --meta_info.')
    args = parser.parse_args(argv)
    count, left_out = write_meta_info(args.input, args.meta_info, not args.no_recursive, args.min_size, args.force)
    for line in left_out:
        print(f'left out {line}')
    print(f'generate_meta_info: {count} images listed in {args.meta_info}, {len(left_out)} left out.')
    return count, left_out


if __name__ == '__main__':
    sys.exit(run_main(main, 'generate_meta_info.py'))
