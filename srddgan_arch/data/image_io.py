"""Images decoded and written, for every part of srddgan: datasets, preparation scripts, inference, benchmarks (the
files are opened and read by ``image_files``).

Images arrive as they come: grayscale, RGBA, 16-bit, rotated by an EXIF orientation tag. ``decode_image`` turns them
into upright BGR float32 in [0, 1] (BasicSR's convention) and says what it converted, so that ``write_image`` can
write a result in the same mode (as far as the output format stores it) and datasets can note each conversion kind
once per process (``note_conversion``). Empty, corrupt or unreadable files raise ``BadImageError`` naming the file.
"""
import io
import os
from os import path as osp
from typing import NamedTuple

import cv2
import numpy as np
from basicsr.utils import get_root_logger
from PIL import Image

from srddgan_arch.data.image_files import BadImageError, open_image_file, read_bytes
from srddgan_arch.utils.training_state import atomic_write

# output formats that store 16 bits per channel, and those that store an alpha channel (OpenCV's encoders)
DEPTH16_EXTENSIONS = ('.png', '.tif', '.tiff', '.ppm')
ALPHA_EXTENSIONS = ('.png', '.tif', '.tiff', '.bmp', '.webp')
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> what makes the stored pixels upright, as viewers and OpenCV's IMREAD_COLOR show them
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.swapaxes(0, 1),
            6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).swapaxes(0, 1), 8: lambda a: np.rot90(a)}

_noted_conversions = set()


class DecodedImage(NamedTuple):
    """An image as :func:`decode_image` returns it.

    Args:
        img (ndarray): Colour image, BGR float32 (h, w, 3) in [0, 1].
        alpha (ndarray | None): Alpha channel of an RGBA file, float32 (h, w) in [0, 1], or None.
        conversion (str | None): What was converted: 'grayscale', 'RGBA', '16-bit', joined with '+' (e.g.
            '16-bit+grayscale'); None for an 8-bit BGR file.
    """

    img: np.ndarray
    alpha: np.ndarray | None
    conversion: str | None

    @property
    def gray(self):
        """The file was single-channel."""
        return 'grayscale' in (self.conversion or '').split('+')

    @property
    def max_value(self):
        """65535 for a 16-bit file, else 255."""
        return 65535 if '16-bit' in (self.conversion or '').split('+') else 255

    @property
    def needs_png(self):
        """The mode needs a format that stores 16 bits and alpha (png) to be written unchanged."""
        return self.max_value == 65535 or self.alpha is not None


class ImageHeader(NamedTuple):
    """What an image file's header says, read without decoding its pixels.

    Args:
        height (int): Height as shown (after the EXIF orientation).
        width (int): Width as shown.
        orientation (int): EXIF orientation, 1 (upright) to 8.
        frames (int): Frames or pages (an animation, a multi-page TIFF); 1 for a still image. Default: 1.
    """

    height: int
    width: int
    orientation: int
    frames: int = 1


def read_header(source):
    """Size, EXIF orientation and frame count from an image's header (Pillow reads no pixels), or None when Pillow
    cannot parse it or the file is not a regular one (:func:`open_image_file`). Pillow's decompression-bomb limit is
    lifted for the header alone: the size of a huge image is what the memory guard needs to refuse it before it is
    decoded.

    Args:
        source (bytes | str): The encoded image or its file.

    Returns:
        ImageHeader | None: The header.
    """
    try:  # a FIFO, a device or a folder is never handed to Pillow, which would block on it or read it
        stream = io.BytesIO(source) if isinstance(source, bytes) else open_image_file(source)
    except BadImageError:
        return None
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with stream, Image.open(stream) as image:
            (width, height), frames = image.size, getattr(image, 'n_frames', 1)
            # a PNG's EXIF may follow its pixels, and Pillow decodes them all to look there: read only what precedes
            png_without_exif = image.format == 'PNG' and 'exif' not in image.info
            orientation = 1 if png_without_exif else image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, EOFError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    orientation = orientation if orientation in _UPRIGHT else 1
    return ImageHeader(*((width, height) if orientation >= 5 else (height, width)), orientation, frames)


def decode_image(content, path):
    """Decode image bytes to upright BGR float32 in [0, 1], shape (h, w, 3), the alpha channel apart.

    Grayscale images are replicated to three channels, the alpha channel of RGBA images is returned apart (the colour
    image is what BasicSR's ``imfrombytes`` gives), 16-bit images are scaled by 1/65535 (not 1/255), and an EXIF
    orientation is applied (as BasicSR's ``imfrombytes`` and image viewers do).

    Args:
        content (bytes | None): The encoded image (file content or LMDB value); None or empty counts as bad.
        path (str): Where the bytes come from, for error messages.

    Returns:
        DecodedImage: The image, its alpha channel and the conversion applied.
    """
    if not content:
        raise BadImageError(path, 'the file is empty (zero bytes)' if content is not None else 'no data found')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise BadImageError(path, 'the data cannot be decoded as an image (corrupt or unsupported format)')
    header = read_header(content)
    if header is not None and header.frames > 1:  # OpenCV decodes the first alone, without a word
        raise BadImageError(path, f'{header.frames} frames (an animation or a multi-page file); expected one image: '
                                  'save the frame to super-resolve as a file of its own')
    if header is not None and header.orientation != 1:
        img = np.ascontiguousarray(_UPRIGHT[header.orientation](img))
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
    return DecodedImage(np.ascontiguousarray(img), alpha, '+'.join(conversions) or None)


def in_mode_of(image, out):
    """An upscaled colour image in the mode of the image it was made from: its alpha upscaled by bicubic, its
    conversion (gray, 16-bit) kept for ``write_image``.

    Args:
        image (DecodedImage): The input image.
        out (ndarray): Its upscaled colour image, float BGR (H, W, 3) in [0, 1].

    Returns:
        DecodedImage: ``out`` ready for ``write_image(path, *result)``.
    """
    alpha = None
    if image.alpha is not None:
        alpha = np.clip(cv2.resize(image.alpha, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_CUBIC), 0, 1)
    return DecodedImage(out, alpha, image.conversion)


def _note_once(kind, message):
    """Log ``message`` as a warning the first time ``kind`` is met in this process."""
    if kind in _noted_conversions:
        return
    _noted_conversions.add(kind)
    get_root_logger().warning(message)


def note_conversion(conversion, path):
    """Log a conversion once per kind and process (the first file of each kind is named).

    Args:
        conversion (str | None): Conversion kind returned by ``decode_image``; None logs nothing.
        path (str): The file that was converted.
    """
    if conversion is not None:
        _note_once(conversion, f'Converted {conversion} input to 3-channel BGR in [0, 1], e.g. {path} '
                               f'(further {conversion} images are converted silently).')


def read_image(path):
    """Read an 8- or 16-bit grayscale, BGR or BGRA image file.

    Args:
        path (str): The file.

    Returns:
        DecodedImage: The colour image in [0, 1] and what is needed to write a result in the same mode.
    """
    return decode_image(read_bytes(path), path)


def write_image(path, img, alpha=None, conversion=None, overwrite=True):
    """Write a float image in the mode of a :class:`DecodedImage` (``write_image(path, *decoded)``), making the
    folder. A format that cannot store the mode gets what it can: 8-bit (jpg, bmp, webp) and no alpha (jpg, ppm),
    with a warning once per kind.

    Args:
        path (str): Output file; its extension chooses the format.
        img (ndarray): Colour image, float (h, w, 3), BGR, in [0, 1].
        alpha (ndarray | None): Alpha channel (h, w) in [0, 1]. Default: None.
        conversion (str | None): The conversion of the file read: 'grayscale' writes one channel, '16-bit' writes
            uint16. Default: None (8-bit BGR).
        overwrite (bool): Replace an existing file (a link is replaced, not written through). Default: True.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    ext = osp.splitext(path)[1].lower()
    if not cv2.haveImageWriter(f'x{ext}'):
        raise ValueError(f'Cannot write {path}: no image format has the extension {ext!r}.')
    mode = DecodedImage(img, alpha, conversion)
    if mode.gray and ext != '.ppm':  # ppm stores colour only
        img = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_BGR2GRAY)
    if alpha is not None and ext not in ALPHA_EXTENSIONS:
        _note_once(f'alpha{ext}', f'{ext} stores no alpha channel: it is left out, e.g. of {path}.')
    elif alpha is not None:
        img = np.concatenate([img, alpha[:, :, None]], axis=2)
    max_value = mode.max_value if ext in DEPTH16_EXTENSIONS else 255
    if max_value < mode.max_value:
        _note_once(f'16-bit{ext}', f'{ext} stores 8 bits per channel: 16-bit results are written as 8-bit, e.g. '
                                   f'{path} (use png or tif to keep 16 bits).')
    out = (np.clip(img, 0, 1) * max_value).round().astype(np.uint16 if max_value == 65535 else np.uint8)
    encoded, content = cv2.imencode(ext, out)
    if not encoded:
        raise ValueError(f'Cannot write {path}: OpenCV cannot encode a {out.dtype} image of shape {out.shape} as '
                         f'{ext}.')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    # written here, not by cv2.imwrite, which reports a full disk or a read-only folder as a bare False (or not at
    # all); atomically: the file is complete or absent, and a link at ``path`` is replaced, never written through
    try:
        atomic_write(path, lambda f: f.write(content), overwrite)
    except FileExistsError:
        raise FileExistsError(f'{path} exists: not replaced (--overwrite replaces it).') from None
    except OSError as error:
        raise OSError(error.errno, f'Cannot write {path}: {error.strerror}') from error


def to_uint8(img):
    """Round a [0, 1] float image to uint8.

    Args:
        img (ndarray): Float image in [0, 1] (values outside are clipped).

    Returns:
        ndarray: The uint8 image.
    """
    return np.clip((img * 255.).round(), 0, 255).astype(np.uint8)
