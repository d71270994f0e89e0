"""What a data preparation reports: each input image's outcome, the skipped ones by reason, and the summary line every
``scripts/prepare_*.py`` ends with."""
import time
from collections import Counter
from typing import NamedTuple

from srddgan_arch.data.image_io import note_conversion


class ImageResult(NamedTuple):
    """What a preparation task did with one input image.

    Args:
        path (str): The input image.
        conversion (str | None): Its conversion (``image_io.decode_image``).
        skipped (str | None): Why no pair was made of it, e.g. 'smaller than the 128-px crop'; None when it was used.
        size (tuple[int, int]): Its (height, width).
    """

    path: str
    conversion: str | None
    skipped: str | None
    size: tuple


def report_skipped(results):
    """Print the skipped input images by reason, with their count; refuse a preparation that used no image.

    Args:
        results (list[ImageResult]): One per input image.

    Returns:
        str: '<count> (<reason>), ...' for the summary line, 'none' when nothing was skipped.
    """
    by_reason = {}
    for result in results:
        if result.skipped:
            by_reason.setdefault(result.skipped, []).append(f'{result.path} ({result.size[0]}x{result.size[1]})')
    for reason, paths in by_reason.items():
        shown = ', '.join(paths[:10]) + (f' and {len(paths) - 10} more' if len(paths) > 10 else '')
        print(f'Skipped {len(paths)} of {len(results)} input images, {reason}: {shown}')
    summary = ', '.join(f'{len(paths)} ({reason})' for reason, paths in by_reason.items()) or 'none'
    if results and sum(len(paths) for paths in by_reason.values()) == len(results):
        raise ValueError(f'--input: every input image was skipped: {summary}; nothing to prepare.')
    return summary


def report(script, num_inputs, split_counts, output, lmdb, conversions, start_time, skipped='none'):
    """Log each kind of input conversion once and print the summary line.

    Args:
        script (str): Script name.
        num_inputs (int): Number of input images.
        split_counts (dict[str, int]): Pairs written per split.
        output (str): Output folder.
        lmdb (bool): Whether LMDB copies were written.
        conversions (list[tuple[str, str | None]]): (path, conversion) per input image.
        start_time (float): ``time.time()`` at the start.
        skipped (str): What :func:`report_skipped` returned. Default: 'none'.

    Returns:
        str: The summary line.
    """
    counts = Counter(conversion for _, conversion in conversions if conversion)
    for path, conversion in conversions:
        note_conversion(conversion, path)
    converted = ', '.join(f'{n} {kind}' for kind, n in sorted(counts.items())) or 'none'
    splits = ', '.join(f'{split}: {n}' for split, n in split_counts.items())
    line = (f'{script}: {num_inputs} input images -> {sum(split_counts.values())} HR/LR pairs ({splits}) in {output}'
            f'{" (+ LMDB)" if lmdb else ""}; converted inputs: {converted}; skipped inputs: {skipped}; '
            f'{time.time() - start_time:.1f} s.')
    print(line)
    return line
