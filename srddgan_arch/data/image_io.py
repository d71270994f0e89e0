"""The one image-decoding function of srddgan, shared by the preparation scripts and the datasets.

Images arrive as they come: grayscale, RGBA, 16-bit. They are all turned into BGR float32 in [0, 1] (BasicSR's
convention) and every conversion kind is noted once per process. Empty, corrupt or unreadable files raise
``BadImageError`` naming the file.
"""
import cv2
import numpy as np
from basicsr.utils import get_root_logger

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm')

_noted_conversions = set()


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


def decode_image(content, path, keep_alpha=False):
    """Decode image bytes to BGR float32 in [0, 1], shape (h, w, 3).

    Grayscale images are replicated to three channels, the alpha channel of RGBA images is dropped
    (as BasicSR's ``imfrombytes`` does) or returned apart, 16-bit images are scaled by 1/65535 (not 1/255).

    Args:
        content (bytes | None): The encoded image (file content or LMDB value); None or empty counts as bad.
        path (str): Where the bytes come from, for error messages.
        keep_alpha (bool): Also return the alpha channel. Default: False.

    Returns:
        tuple[ndarray, str | None]: The image and the conversion applied ('grayscale', 'RGBA', '16-bit', combined
            with '+', e.g. '16-bit+grayscale'), or None when the image was 8-bit BGR already. With ``keep_alpha``
            a third item: the alpha channel, float32 (h, w) in [0, 1], or None.
    """
    if not content:
        raise BadImageError(path, 'the file is empty (zero bytes)' if content is not None else 'no data found')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise BadImageError(path, 'the data cannot be decoded as an image (corrupt or unsupported format)')
    conversions, alpha = [], None
    if img.dtype == np.uint16:
        conversions.append('16-bit')
        img = img.astype(np.float32) / 65535.
    elif img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.
    else:
        raise BadImageError(path, f'unsupported pixel type {img.dtype}; expected 8-bit or 16-bit integers')
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        conversions.append('grayscale')
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        conversions.append('RGBA')
        img, alpha = img[..., :3], np.ascontiguousarray(img[..., 3])
    elif img.shape[2] != 3:
        raise BadImageError(path, f'{img.shape[2]} channels; expected 1 (gray), 3 (colour) or 4 (RGBA)')
    decoded = np.ascontiguousarray(img), '+'.join(conversions) or None
    return (*decoded, alpha) if keep_alpha else decoded


def note_conversion(conversion, path):
    """Log a conversion once per kind and process (the first file of each kind is named).

    Args:
        conversion (str | None): Conversion kind returned by ``decode_image``; None logs nothing.
        path (str): The file that was converted.
    """
    if conversion is None or conversion in _noted_conversions:
        return
    _noted_conversions.add(conversion)
    get_root_logger().warning(f'Converted {conversion} input to 3-channel BGR in [0, 1], e.g. {path} '
                              f'(further {conversion} images are converted silently).')


def read_bytes(path):
    """Read a file's bytes, turning OS errors (missing, permission denied, a folder) into ``BadImageError``.

    Args:
        path (str): The file.

    Returns:
        bytes: Its content.
    """
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as error:
        raise BadImageError(path, f'cannot be read ({error.strerror or error})') from error


def read_image(path):
    """Read an image file as BGR float32 in [0, 1], shape (h, w, 3), noting conversions once.

    Args:
        path (str): The file.

    Returns:
        ndarray: The image.
    """
    img, conversion = decode_image(read_bytes(path), path)
    note_conversion(conversion, path)
    return img


def to_uint8(img):
    """Round a [0, 1] float image to uint8.

    Args:
        img (ndarray): Float image in [0, 1] (values outside are clipped).

    Returns:
        ndarray: The uint8 image.
    """
    return np.clip((img * 255.).round(), 0, 255).astype(np.uint8)
