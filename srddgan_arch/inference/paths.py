"""Which files ``srddgan-infer`` reads and writes: the input images of ``-i``, and output names that never replace
an input, another output of the run or (without ``--overwrite``) an existing file."""
from collections import Counter
from os import path as osp

from srddgan_arch.data.image_io import IMAGE_EXTENSIONS, list_images


def input_images(path):
    """The image files of a folder (sorted), or ``[path]`` for a file."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'-i: {path} does not exist; give an image file or a folder of images.')
    images = list_images(path)
    if not images:
        raise FileNotFoundError(f'-i: no images ({", ".join(IMAGE_EXTENSIONS)}) in {path}.')
    return images


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


def plan_outputs(args, inputs):
    """Output stems of the inputs, after refusing an ``-o`` that is a file and any output that could replace an
    input (whatever the image modes turn out to be): all before a model is built."""
    if osp.exists(args.output) and not osp.isdir(args.output):
        raise FileExistsError(f'-o: {args.output} is a file; give a folder (it is made when missing).')
    stems = output_stems(inputs, args.suffix)
    input_paths = {osp.realpath(p) for p in inputs}
    indices = sample_indices(args.num_samples, args.reduce)
    for path, stem in stems.items():
        for needs_png in (False, True):
            for index in indices:
                target = output_path(stem, path, args.output, args.ext, needs_png, index)
                if osp.realpath(target) in input_paths:
                    raise FileExistsError(f'Refusing to overwrite the input {target}: choose another -o or '
                                          '--suffix.')
                if osp.lexists(target) and not args.overwrite:
                    raise FileExistsError(f'{target} exists: choose another -o or --suffix, or give --overwrite.')
    return stems
