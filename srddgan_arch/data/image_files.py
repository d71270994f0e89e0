"""Which image files are read, and how: only regular files (after links are resolved), never more bytes than a
bound, and the images of a folder listed so that anything unreadable in it is named, not skipped in silence. Every
image read of srddgan (inference, data sets, preparation, benchmarks) passes here (``read_bytes``,
``open_image_file``); ``image_io`` decodes what it returns.
"""
import os
import stat
from os import path as osp

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm')
# the largest image file read whole (a 16-bit RGBA TIFF of 16k x 16k is 2 GiB); ``read_bytes(max_bytes=...)`` lowers it
MAX_IMAGE_BYTES = 2 * 2**30


class BadImageError(ValueError):
    """An image file that is empty, corrupt, missing or unreadable.

    Args:
        path (str): The file (or ``lmdb_folder:key``) that failed.
        reason (str): What was wrong with it.
    """

    def __init__(self, path, reason):
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self):
        return f'Bad image {self.path}: {self.reason}.'


def open_image_file(path):
    """Open a file for reading if it is a regular file once links are resolved: a link to ``/dev/zero``, a FIFO, a
    device or a folder named like an image is refused before a byte is read (reading one never ends or blocks). The
    type is checked on the opened descriptor, so a file swapped after the check is not read either.

    Args:
        path (str): The file.

    Returns:
        BufferedReader: The open file.

    Raises:
        BadImageError: The file is missing, cannot be opened or is not a regular file.
    """
    try:  # O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting for one
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_BINARY', 0))
    except OSError as error:
        raise BadImageError(path, f'cannot be read ({error.strerror or error})') from error
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadImageError(path, 'not a regular file (a folder, device, FIFO or socket, or a link to one): not read')
    if hasattr(os, 'set_blocking'):
        os.set_blocking(fd, True)
    return os.fdopen(fd, 'rb')


def read_bytes(path, max_bytes=MAX_IMAGE_BYTES):
    """Read a regular file's bytes (:func:`open_image_file`), at most ``max_bytes`` of them, turning OS errors
    (missing, permission denied, a folder) into ``BadImageError``.

    Args:
        path (str): The file.
        max_bytes (int): The most bytes read: a larger file is refused before its first byte, and a file that grows
            past it while it is read is refused after ``max_bytes + 1``. Default: ``MAX_IMAGE_BYTES``.

    Returns:
        bytes: Its content.
    """
    with open_image_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise BadImageError(path, f'a file of {size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:.1f} MiB '
                                      'read from an image file')
        try:
            content = f.read(max_bytes + 1)
        except OSError as error:
            raise BadImageError(path, f'cannot be read ({error.strerror or error})') from error
    if len(content) > max_bytes:
        raise BadImageError(path, f'it grew past {max_bytes / 2**20:.1f} MiB while it was read')
    return content


def list_images(folder, recursive=False):
    """The image files (``IMAGE_EXTENSIONS``, any case) of a folder, sorted; hidden files are left out. A link to a
    folder is followed once (a link back to a parent is no loop). Anything else named like an image (a link that
    cannot be resolved, a FIFO, a device, a folder when not recursive) is listed, so that reading it names it and
    skips it (``open_image_file``) instead of the listing stopping or leaving it out without a word.

    Args:
        folder (str): The folder.
        recursive (bool): Also list its sub-folders. Default: False.

    Returns:
        list[str]: Paths of the image files.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'Folder {folder} does not exist.')
    found, visited = [], set()

    def scan(path):  # (BasicSR's scandir stops at a link to itself and loops through a link to a parent)
        visited.add(osp.realpath(path))
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith('.'):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:  # a link loop: listed, so that reading it names the error
                    is_dir = False
                if is_dir and recursive:
                    if osp.realpath(entry.path) not in visited:
                        scan(entry.path)
                elif entry.name.lower().endswith(IMAGE_EXTENSIONS):  # a folder, FIFO or device too: named when read
                    found.append(entry.path)

    scan(folder)
    return sorted(found)
