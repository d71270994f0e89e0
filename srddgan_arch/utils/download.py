"""srddgan's downloader of weight files, and the checks a weight file in the cache passes before it is used.

A download has a timeout on the connection and on each read, is refused past a size cap, and is written to a
temporary file beside its destination; only a complete file (the bytes Content-Length announced), with the SHA-256
prefix its name carries (torchvision's ``NAME-<hex>.pth``) and the format of a weight file (a torch zip or pickle
checkpoint, a safetensors file) is renamed into place: a login page, a cut-off body or a stalled server leaves
nothing behind. Settings (environment variables, read at each download): ``SRDDGAN_MAX_DOWNLOAD_MB`` (the cap),
``SRDDGAN_DOWNLOAD_TIMEOUT`` (seconds); urllib's ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` choose a proxy.
"""
import hashlib
import http.client
import json
import os
import re
import struct
import tempfile
import urllib.request
import zipfile
from os import path as osp

from tqdm import tqdm

# torchvision's convention, file names like vgg19-dcbb9e9d.pth: 8 or more hex digits of the file's SHA-256 (torch.hub's
# own pattern also takes fewer, so that e.g. model-0.1.pth would be "checked" against the prefix 0)
HASH_PREFIX = re.compile(r'-([a-f0-9]{8,})\.')
# the largest weight file srddgan expects (the paper's checkpoints and VGG19 are under 600 MB), in MiB
DEFAULT_MAX_DOWNLOAD_MB = 2048
# seconds to wait for the connection and for each read
DEFAULT_TIMEOUT_S = 30
MAX_DOWNLOAD_ENV, TIMEOUT_ENV = 'SRDDGAN_MAX_DOWNLOAD_MB', 'SRDDGAN_DOWNLOAD_TIMEOUT'
CHUNK_BYTES = 2**20
# torch.save's legacy (non-zip) format starts with the pickled magic number 0x1950a86a20f9469cfc6c
TORCH_LEGACY_START = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'


class DownloadError(OSError):
    """A download that failed or was refused: cut off, too large, stalled, a web page, the wrong hash."""


def _positive_setting(name, default):
    """A positive number from the environment variable ``name``, else ``default``."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0
    if not number > 0:
        raise DownloadError(f'{name}={value!r}: expected a positive number.')
    return number


def max_download_bytes():
    """The size cap of a download: ``SRDDGAN_MAX_DOWNLOAD_MB`` MiB, else ``DEFAULT_MAX_DOWNLOAD_MB``."""
    return int(_positive_setting(MAX_DOWNLOAD_ENV, DEFAULT_MAX_DOWNLOAD_MB) * 2**20)


def download_timeout():
    """Seconds to wait for the connection and each read: ``SRDDGAN_DOWNLOAD_TIMEOUT``, else ``DEFAULT_TIMEOUT_S``."""
    return _positive_setting(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)


def file_sha256(path):
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _safetensors_problem(path, size):
    """What is wrong with a safetensors file's header and length, or None."""
    with open(path, 'rb') as f:
        start = f.read(8)
        header_size = struct.unpack('<Q', start)[0] if len(start) == 8 else size
        if header_size > size - 8:
            return 'cut off inside its safetensors header'
        try:
            header = json.loads(f.read(header_size))
            end = max([0, *(entry['data_offsets'][1] for key, entry in header.items() if key != '__metadata__')])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return 'not a safetensors file (its header is not one)'
    if size != 8 + header_size + end:
        return f'cut off: {size} bytes where its safetensors header describes {8 + header_size + end}'
    return None


def weight_file_problem(path):
    """Why a file is not a usable weight file, judged from its format without loading it, or None: a torch zip
    checkpoint must have its zip directory (at its end: a cut-off file has none), a safetensors file the length its
    header describes; a legacy torch pickle is recognised by its start. A web page (a login or error page) is named.

    Args:
        path (str): The file.

    Returns:
        str | None: The problem.
    """
    size = osp.getsize(path)
    if size == 0:
        return 'empty (0 bytes)'
    with open(path, 'rb') as f:
        start = f.read(64)
    if start.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path):
                return None
        except (zipfile.BadZipFile, OSError):
            return 'a torch checkpoint cut off (no zip directory at its end)'
    if start.startswith(TORCH_LEGACY_START):
        return None
    if start.lstrip().lower().startswith((b'<!doctype html', b'<html', b'<?xml', b'<head', b'<body')):
        return 'a web page (HTML), not a weight file: a login or error page?'
    if path.endswith('.safetensors') or start[8:9] == b'{':
        return _safetensors_problem(path, size)
    return 'neither a torch checkpoint nor a safetensors file'


def _receive(response, out, cap, length, progress):
    """Copy a response body to ``out`` within ``cap`` bytes; returns (bytes received, SHA-256 hex)."""
    digest, received = hashlib.sha256(), 0
    with tqdm(total=length, unit='B', unit_scale=True, unit_divisor=1024, disable=not progress) as bar:
        while chunk := response.read(CHUNK_BYTES):
            received += len(chunk)
            if received > cap:
                raise DownloadError(f'more than the {cap / 2**20:.0f} MiB cap ({MAX_DOWNLOAD_ENV} raises it)')
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    return received, digest.hexdigest()


def download_url_to_file(url, destination, hash_prefix=None, progress=True):
    """Download ``url`` to ``destination`` through a temporary file in its folder, renamed into place once checked
    (length, size cap, hash prefix, weight-file format); nothing is left behind on failure.

    Args:
        url (str): The address.
        destination (str): The file to write; its folder is created.
        hash_prefix (str | None): Leading hex digits of the file's SHA-256; None: not checked. Default: None.
        progress (bool): Show a progress bar. Default: True.

    Raises:
        DownloadError: The download failed or was refused (one line, without the address).
        OSError: The connection failed (urllib's URLError, a timeout).
    """
    cap, timeout = max_download_bytes(), download_timeout()
    os.makedirs(osp.dirname(osp.abspath(destination)), exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f'.{osp.basename(destination)}.', suffix='.partial',
                                   dir=osp.dirname(osp.abspath(destination)))
    try:
        request = urllib.request.Request(url, headers={'User-Agent': 'srddgan'})
        with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get('Content-Length')
            length = int(length) if length and length.isdigit() else None
            if length is not None and length > cap:
                raise DownloadError(f'{length / 2**20:.0f} MiB, more than the {cap / 2**20:.0f} MiB cap '
                                    f'({MAX_DOWNLOAD_ENV} raises it)')
            if 'text/html' in response.headers.get('Content-Type', ''):
                raise DownloadError('the server sent a web page (text/html), not a weight file: a login or error '
                                    'page?')
            received, sha256 = _receive(response, out, cap, length, progress)
            if length is not None and received != length:
                raise DownloadError(f'cut off: {received} of the {length} bytes announced were received')
        if hash_prefix and not sha256.startswith(hash_prefix):
            raise DownloadError(f'wrong SHA-256: {sha256[:len(hash_prefix)]}..., the name says {hash_prefix}')
        if problem := weight_file_problem(partial):
            raise DownloadError(f'the file received is {problem}')
        os.replace(partial, destination)
    except TimeoutError as error:
        raise DownloadError(f'no answer within {timeout:g} s ({TIMEOUT_ENV} waits longer)') from error
    except http.client.HTTPException as error:  # e.g. IncompleteRead: the connection closed mid-body
        raise DownloadError(f'the connection broke ({type(error).__name__}: {error})') from error
    finally:
        if osp.exists(partial):
            os.remove(partial)


def hash_prefix_of(path):
    """The SHA-256 prefix a file name carries (``NAME-<8+ hex digits>.ext``), or None."""
    match = HASH_PREFIX.search(osp.basename(path))
    return match.group(1) if match else None


def cached_file_problem(path, hash_prefix=None):
    """Why a weight file found in a cache cannot be used, or None: the wrong SHA-256 prefix (when its name carries
    one) or not the format of a weight file (``weight_file_problem``).

    Args:
        path (str): The cached file.
        hash_prefix (str | None): The prefix its name carries. Default: None.

    Returns:
        str | None: The problem.
    """
    if hash_prefix:
        sha256 = file_sha256(path)
        return None if sha256.startswith(hash_prefix) else f'its SHA-256 is {sha256[:8]}..., its name says ' \
                                                          f'{hash_prefix}'
    return weight_file_problem(path)


def usable_cached(path, url, what):
    """``path`` when it is a usable cached file (:func:`cached_file_problem`: its name's hash prefix, else its
    format), else None, after a warning that it is downloaded again (the download replaces it).

    Args:
        path (str): The cached file.
        url (str): Where it comes from.
        what (str): What it is, for the warning.

    Returns:
        str | None: ``path``, or None when it is missing or unusable.
    """
    if not osp.isfile(path):
        return None
    problem = cached_file_problem(path, hash_prefix_of(path))
    if problem is None:
        return path
    from basicsr.utils import get_root_logger
    get_root_logger().warning(f'{what}: the cached {path} is unusable ({problem}): downloading {url} again.')
    return None
