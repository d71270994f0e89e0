"""Which files ``srddgan-infer`` (and ``srddgan-app``) read and write: the input images of ``-i``, read within the
memory guard's bounds (``read_checked``), and output names that never replace an input, another output of the run or
(without ``--overwrite``) an existing file."""
import os
from collections import Counter
from collections.abc import Sequence
from os import path as osp
from typing import NamedTuple

from srddgan_arch.data.image_files import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES, BadImageError, list_images, read_bytes
from srddgan_arch.data.image_io import decode_image, read_header

# a file whose header Pillow cannot read is read whole for OpenCV to try only below this size
HEADERLESS_MAX_BYTES = 256 * 2**20


def input_images(path):
    """The image files of a folder (sorted), or ``[path]`` for a file."""
    if osp.lexists(path) and not osp.isdir(path):  # a FIFO or device is refused by name when it is read
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'-i: {path} does not exist; give an image file or a folder of images.')
    images = list_images(path)
    if not images:
        raise FileNotFoundError(f'-i: no images ({", ".join(IMAGE_EXTENSIONS)}) in {path}.')
    return images


def read_checked(path, guard, outscale=None):
    """Read and decode an input image: only a regular file (``image_files.open_image_file``), refused by the memory
    guard (None: no guard) before a byte is read when the file is larger than the free memory, and before decoding
    wherever its header tells its size (a small file can hold a huge image); the read stops at the guard's bound
    even if the file grows meanwhile.

    Args:
        path (str): The input file.
        guard (MemoryGuard | None): The memory guard of the upsampler.
        outscale (float | None): The final scale. Default: None (the network's).

    Returns:
        DecodedImage: The image.
    """
    header = read_header(path)
    limit = MAX_IMAGE_BYTES if header is not None else HEADERLESS_MAX_BYTES
    size = os.stat(path).st_size if osp.isfile(path) else 0
    if header is None and size > limit:
        raise BadImageError(path, f'no image header can be read, and a file of {size / 2**30:.1f} GiB is not read '
                                  'to find out what it is')
    if guard is not None:
        guard.check_file(path)
        limit = min(limit, guard.host_budget)
        if header is not None:
            guard.check(path, header.height, header.width, outscale)
    image = decode_image(read_bytes(path, limit), path)
    if guard is not None and header is None:
        guard.check(path, *image.img.shape[:2], outscale)
    return image


def output_stems(inputs, suffix):
    """Output name stem of each input, ``<name>_<suffix>``; inputs that share a name (``a.png``, ``a.jpg``) keep
    their extension in it (``a_png_<suffix>``, ``a_jpg_<suffix>``), so that no result replaces another.

    Args:
        inputs (list[str]): The input files.
        suffix (str): The ``--suffix``.

    Returns:
        dict[str, str]: Input file -> stem.
    """
    names = Counter(osp.splitext(osp.basename(path))[0].lower() for path in inputs)
    stems, owners = {}, {}
    for path in inputs:
        name, ext = osp.splitext(osp.basename(path))
        stem = f'{name}_{ext[1:]}' if names[name.lower()] > 1 else name
        stems[path] = f'{stem}_{suffix}' if suffix else stem
        other = owners.setdefault(stems[path].lower(), path)
        if other != path:  # e.g. a.png, a.jpg and a_png.jpg
            raise FileExistsError(f'{other} and {path} would both be written as {stems[path]}.*: rename one.')
    return stems


def output_path(stem, input_path, output_dir, ext, needs_png, sample_index=None):
    """Output file ``<stem>[_<i>].<ext>``; with ext 'auto' the input's extension, png when 16-bit or alpha need it.

    Args:
        stem (str): From :func:`output_stems`.
        input_path (str): The input file.
        output_dir (str): The ``-o`` folder.
        ext (str): The ``--ext``.
        needs_png (bool): The result is 16-bit or has alpha.
        sample_index (int | None): Sample number when there are several. Default: None.

    Returns:
        str: The output file.
    """
    if ext == 'auto':
        ext = 'png' if needs_png else osp.splitext(input_path)[1][1:]
    stem = stem if sample_index is None else f'{stem}_{sample_index}'
    return osp.join(output_dir, f'{stem}.{ext}')


def sample_indices(num_samples, reduce='none'):
    """The ``sample_index`` of each output file of an input: none for one sample or their mean, else 0, 1, ..."""
    return range(num_samples) if num_samples > 1 and reduce == 'none' else [None]


class OutputPlan(NamedTuple):
    """Where a run writes: ``<folder>/<stem>[_<i>].<ext>`` for each input and sample, names that never replace an input,
    another output of the run or (without ``overwrite``) an existing file.

    Args:
        folder (str): The ``-o`` folder.
        suffix (str): The ``--suffix``.
        ext (str): The ``--ext``; 'auto': the input's, png when 16-bit or alpha need it.
        overwrite (bool): ``--overwrite``.
        indices (Sequence[int | None]): The sample index of each output file of an input (:func:`sample_indices`).
    """

    folder: str
    suffix: str
    ext: str
    overwrite: bool
    indices: Sequence

    def path(self, stem, input_path, needs_png, sample_index=None):
        """The output file of one sample of an input (:func:`output_path`)."""
        return output_path(stem, input_path, self.folder, self.ext, needs_png, sample_index)

    def stems(self, inputs):
        """Output stems of the inputs, after refusing a folder that is a file and any output that could replace an
        input (whatever the image modes turn out to be): all before a model is built.

        Args:
            inputs (list[str]): The input files.

        Returns:
            dict[str, str]: Input file -> stem (:func:`output_stems`).
        """
        if osp.exists(self.folder) and not osp.isdir(self.folder):
            raise FileExistsError(f'-o: {self.folder} is a file; give a folder (it is made when missing).')
        stems = output_stems(inputs, self.suffix)
        input_paths = {osp.realpath(p) for p in inputs}
        for path, stem in stems.items():
            for needs_png in (False, True):
                for index in self.indices:
                    target = self.path(stem, path, needs_png, index)
                    if osp.realpath(target) in input_paths:
                        raise FileExistsError(f'Refusing to overwrite the input {target}: choose another -o or '
                                              '--suffix.')
                    if osp.lexists(target) and not self.overwrite:
                        raise FileExistsError(f'{target} exists: choose another -o or --suffix, or give --overwrite.')
        return stems
