"""An LMDB data folder against its ``meta_info.txt``, before training reads it: opened read-only, its ``data.mdb``
long enough for the pages the environment uses, every listed key present, the first image decodable.

LMDB maps ``data.mdb`` into memory: a file cut off (a copy interrupted, a full disk) passes every check of the folder
and kills the run with SIGBUS (exit 135, no message) when a read reaches past its end; a listed key that is missing
stops it when training draws that image.
"""
from os import path as osp

import lmdb

from srddgan_arch.data.image_io import BadImageError, decode_image
from srddgan_arch.options.schema import OptionError

# keys compared with meta_info.txt at most (a cursor walk over the keys alone: about a second per million)
MAX_CHECKED_KEYS = 5_000_000
SHOWN_KEYS = 3


def lmdb_keys(folder):
    """The keys ``meta_info.txt`` lists, as BasicSR reads them (the name up to its first dot).

    Args:
        folder (str): The LMDB folder.

    Returns:
        list[str]: The keys, in file order.
    """
    with open(osp.join(folder, 'meta_info.txt')) as f:
        return [line.split('.')[0] for line in f if line.strip()]


def _open_read_only(key, folder):
    """The environment, opened as BasicSR's ``LmdbBackend`` opens it, after ``data.mdb`` was found non-empty."""
    data = osp.join(folder, 'data.mdb')
    if not osp.isfile(data) or osp.getsize(data) == 0:
        what = 'is empty' if osp.isfile(data) else 'is missing'
        raise OptionError(f'{key}: {data} {what}: prepare the LMDB again.')
    try:
        return lmdb.open(folder, readonly=True, lock=False, readahead=False, max_readers=1)
    except lmdb.Error as error:
        raise OptionError(f'{key}: LMDB {folder} does not open ({error}): prepare it again.') from None


def check_lmdb(key, folder):
    """Probe an LMDB data folder (its ``meta_info.txt`` exists): ``data.mdb`` present, non-empty and covering the
    environment's used pages, every key of ``meta_info.txt`` in it (up to ``MAX_CHECKED_KEYS`` entries), the first
    image decodable.

    Args:
        key (str): The option that names the folder, for messages, e.g. 'datasets.train.dataroot_gt'.
        folder (str): The LMDB folder.

    Raises:
        OptionError: The first problem, naming the folder.
    """
    env = _open_read_only(key, folder)
    with env:
        data, info, page_size = osp.join(folder, 'data.mdb'), env.info(), env.stat()['psize']
        used = (info['last_pgno'] + 1) * page_size
        if osp.getsize(data) < used:
            raise OptionError(f'{key}: {data} is cut off: {osp.getsize(data):,} bytes, but its pages need {used:,} '
                              '(an interrupted copy or a full disk): copy or prepare it again.')
        listed = lmdb_keys(folder)
        with env.begin(buffers=True) as txn:
            if env.stat()['entries'] <= MAX_CHECKED_KEYS:
                present = {bytes(k).decode(errors='replace') for k in txn.cursor().iternext(keys=True, values=False)}
                missing = [name for name in listed if name not in present]
                if missing:
                    shown = ', '.join(missing[:SHOWN_KEYS]) + (', ...' if len(missing) > SHOWN_KEYS else '')
                    raise OptionError(f'{key}: {len(missing)} of the {len(listed)} keys that {folder}/meta_info.txt '
                                      f'lists are not in the LMDB: {shown}. Prepare it again.')
            if listed:
                try:
                    decode_image(bytes(txn.get(listed[0].encode()) or b''), f'{folder}:{listed[0]}')
                except BadImageError as error:
                    raise OptionError(f'{key}: {error}') from None
