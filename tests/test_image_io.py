"""Image files in and out: decoding, conversions, writing in the same mode, bad files, and the paired data set that
reports or skips them."""
import io
import logging
import os

import cv2
import numpy as np
import pytest
import torch
from basicsr.data import build_dataset
from basicsr.utils import get_root_logger
from PIL import Image

from srddgan_arch.data import image_files, image_io
from srddgan_arch.data.image_files import BadImageError
from srddgan_arch.data.image_io import decode_image, read_header, read_image, write_image
from srddgan_arch.utils import training_state


class RecordList(logging.Handler):
    """Keeps every record it handles."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def basicsr_log(monkeypatch):
    """Records of BasicSR's root logger (it does not propagate), with the once-per-kind notes reset."""
    monkeypatch.setattr(image_io, '_noted_conversions', set())
    logger, handler = get_root_logger(), RecordList()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # as in training, where BasicSR logs INFO to the log file
    yield handler
    logger.setLevel(level)
    logger.removeHandler(handler)


def encode(img):
    """PNG bytes of ``img``."""
    return cv2.imencode('.png', img)[1].tobytes()


@pytest.mark.parametrize('raw, conversion', [
    (np.full((4, 6), 51, np.uint8), 'grayscale'),
    (np.full((4, 6, 4), 51, np.uint8), 'RGBA'),
    (np.full((4, 6, 3), 13107, np.uint16), '16-bit'),
    (np.full((4, 6), 13107, np.uint16), '16-bit+grayscale'),
    (np.full((4, 6, 3), 51, np.uint8), None),
])
def test_decode_converts_to_bgr_float(raw, conversion):
    """Every supported PNG kind decodes to (h, w, 3) float32 with value 0.2 (51/255 = 13107/65535)."""
    img, alpha, kind = decode_image(encode(raw), 'x.png')
    assert kind == conversion and (alpha is None) == (conversion != 'RGBA')
    assert img.shape == (4, 6, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img, 0.2, atol=1e-6)


def test_decode_returns_alpha_apart():
    """The alpha channel of an RGBA image comes back apart (None for images without one)."""
    raw = np.full((4, 6, 4), 51, np.uint8)
    raw[..., 3] = 255
    img, alpha, kind = decode_image(encode(raw), 'x.png')
    assert kind == 'RGBA' and img.shape == (4, 6, 3) and alpha.shape == (4, 6)
    np.testing.assert_allclose(alpha, 1.0)
    assert decode_image(encode(raw[..., :3]), 'x.png').alpha is None


@pytest.mark.parametrize('shape,dtype', [((20, 24), np.uint8), ((20, 24, 4), np.uint8), ((20, 24, 3), np.uint16),
                                         ((20, 24), np.uint16), ((20, 24, 4), np.uint16)])
def test_image_modes_round_trip(tmp_path, shape, dtype):
    """Gray, RGBA and 16-bit files read and write back bit-exactly in the same mode."""
    raw = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    if len(shape) == 2:  # a gray image is stored as equal channels
        raw = cv2.cvtColor(cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / 'in.png'), raw)
    image = read_image(str(tmp_path / 'in.png'))
    assert image.img.shape == (20, 24, 3) and image.gray == (len(shape) == 2)
    write_image(str(tmp_path / 'out.png'), *image)
    back = cv2.imread(str(tmp_path / 'out.png'), cv2.IMREAD_UNCHANGED)
    assert back.dtype == dtype and np.array_equal(back, raw)

def write_png(path, raw):
    """``raw`` as a PNG at ``path``; returns the path as a string."""
    cv2.imwrite(str(path), raw)
    return str(path)


@pytest.mark.parametrize('ext', ['jpg', 'bmp', 'webp'])
def test_16_bit_results_in_8_bit_formats_keep_their_values(tmp_path, basicsr_log, ext):
    """A 16-bit image written as jpg, bmp or webp (8 bits) is scaled to 8 bits, not saturated to white, with a note."""
    image = read_image(write_png(tmp_path / 'deep.png', np.full((8, 8, 3), 13107, np.uint16)))
    write_image(str(tmp_path / f'out.{ext}'), *image)
    back = cv2.imread(str(tmp_path / f'out.{ext}'), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint8 and np.abs(back.astype(int) - 51).max() <= 1
    assert any('8 bits per channel' in r.getMessage() for r in basicsr_log.records)


def test_alpha_is_left_out_of_formats_without_it(tmp_path, basicsr_log):
    """An RGBA result written as jpg keeps its colours and says that the alpha channel was left out."""
    raw = np.full((8, 8, 4), 51, np.uint8)
    write_image(str(tmp_path / 'out.jpg'), *read_image(write_png(tmp_path / 'rgba.png', raw)))
    back = cv2.imread(str(tmp_path / 'out.jpg'), cv2.IMREAD_UNCHANGED)
    assert back.shape == (8, 8, 3) and np.abs(back.astype(int) - 51).max() <= 1
    assert any('no alpha channel' in r.getMessage() for r in basicsr_log.records)


@pytest.mark.parametrize('orientation', range(1, 9))
def test_exif_orientation_is_applied(orientation):
    """A JPEG with an EXIF orientation decodes upright, exactly as OpenCV's IMREAD_COLOR (and viewers) show it;
    its header gives the upright size without decoding."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    Image.fromarray(stored).save(buffer, 'JPEG', exif=exif, quality=95)
    content = buffer.getvalue()
    upright = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decode_image(content, 'photo.jpg').img, upright.astype(np.float32) / 255)
    assert read_header(content)[:2] == upright.shape[:2]


def test_write_reports_a_full_disk(tmp_path, monkeypatch):
    """A full disk raises the OS error (no space left) naming the file, not a format guess, and leaves no file."""
    if not os.path.exists('/dev/full'):
        pytest.skip('needs /dev/full')
    monkeypatch.setattr(training_state, 'open', lambda path, mode: open('/dev/full', 'wb'), raising=False)
    with pytest.raises(OSError, match=r'out\.png: No space left on device'):
        write_image(str(tmp_path / 'out.png'), np.zeros((8, 8, 3), np.float32))
    assert os.listdir(tmp_path) == []


def test_write_replaces_a_link_and_never_writes_through_it(tmp_path):
    """An output that is a symbolic link is replaced by the image (the file it pointed to is untouched), only with
    overwrite; without it an existing output is refused, unchanged."""
    (tmp_path / 'victim.txt').write_text('keep me')
    os.symlink(tmp_path / 'victim.txt', tmp_path / 'out.png')
    with pytest.raises(FileExistsError, match=r'out\.png exists: not replaced \(--overwrite replaces it\)'):
        write_image(str(tmp_path / 'out.png'), np.zeros((8, 8, 3), np.float32), overwrite=False)
    assert os.path.islink(tmp_path / 'out.png') and sorted(os.listdir(tmp_path)) == ['out.png', 'victim.txt']
    write_image(str(tmp_path / 'out.png'), np.zeros((8, 8, 3), np.float32))
    assert not os.path.islink(tmp_path / 'out.png') and cv2.imread(str(tmp_path / 'out.png')).shape == (8, 8, 3)
    assert (tmp_path / 'victim.txt').read_text() == 'keep me'


def test_write_reports_a_read_only_folder(tmp_path):
    """Writing into a read-only folder raises the OS error (permission denied) naming the file."""
    if os.geteuid() == 0:
        pytest.skip('root writes into read-only folders')
    (tmp_path / 'ro').mkdir(mode=0o500)
    with pytest.raises(PermissionError, match=r'out\.png: Permission denied'):
        write_image(str(tmp_path / 'ro' / 'out.png'), np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize('content, reason', [(b'', 'empty'), (b'not an image at all', 'cannot be decoded')])
def test_bad_bytes_name_the_file(tmp_path, content, reason):
    """Zero-byte and corrupt files raise BadImageError naming the file and the reason."""
    path = tmp_path / 'broken.png'
    path.write_bytes(content)
    with pytest.raises(BadImageError, match=f'broken.png.*{reason}'):
        read_image(str(path))


def test_missing_file_names_the_file(tmp_path):
    """A missing file is a BadImageError naming it, not a bare OSError."""
    with pytest.raises(BadImageError, match='gone.png.*cannot be read'):
        read_image(str(tmp_path / 'gone.png'))


def test_conversion_is_noted_once_per_kind(tmp_path, basicsr_log):
    """Two grayscale files give one log note naming the first; an RGBA file gets its own note."""
    for name, img in (('g1', np.zeros((4, 4), np.uint8)), ('g2', np.zeros((4, 4), np.uint8)),
                      ('a1', np.zeros((4, 4, 4), np.uint8))):
        cv2.imwrite(str(tmp_path / f'{name}.png'), img)
        image_io.note_conversion(read_image(str(tmp_path / f'{name}.png')).conversion, f'{name}.png')
    notes = [r.getMessage() for r in basicsr_log.records if 'Converted' in r.getMessage()]
    assert len(notes) == 2
    assert 'grayscale' in notes[0] and 'g1.png' in notes[0] and 'RGBA' in notes[1]


def make_pairs(root, names, scale=2, hr=16):
    """Write HR/LR pairs (random uint8 BGR) under root/HR and root/LR and return the two folders."""
    rng = np.random.default_rng(0)
    for sub in ('HR', 'LR'):
        os.makedirs(root / sub, exist_ok=True)
    for name in names:
        cv2.imwrite(str(root / 'HR' / f'{name}.png'), rng.integers(0, 256, (hr, hr, 3), dtype=np.uint8))
        cv2.imwrite(str(root / 'LR' / f'{name}.png'), rng.integers(0, 256, (hr // scale, hr // scale, 3), np.uint8))
    return str(root / 'HR'), str(root / 'LR')


def paired_options(gt, lq, phase='train', **extra):
    """Options of an SRDDGANPairedDataset at scale 2."""
    return {'name': 'pairs', 'type': 'SRDDGANPairedDataset', 'dataroot_gt': gt, 'dataroot_lq': lq,
            'io_backend': {'type': 'disk'}, 'phase': phase, 'scale': 2, 'gt_size': 8, 'use_hflip': True,
            'use_rot': True, **extra}


@pytest.mark.parametrize('damage', ['empty', 'corrupt', 'unreadable'])
def test_paired_dataset_reports_bad_training_image(tmp_path, damage):
    """A zero-byte, corrupt or unreadable training image stops with an error naming its path and the skip option."""
    gt, lq = make_pairs(tmp_path, ['a', 'b'])
    bad = os.path.join(gt, 'b.png')
    dataset = build_dataset(paired_options(gt, lq))
    bad_index = [p['gt_path'] for p in dataset.paths].index(bad)
    if damage == 'empty':
        open(bad, 'wb').close()
    elif damage == 'corrupt':
        with open(bad, 'r+b') as f:
            f.truncate(40)
    else:
        os.remove(bad)  # vanished after the listing, as on flaky network storage
    with pytest.raises(BadImageError, match=r'b\.png.*skip_bad_images'):
        dataset[bad_index]


def test_paired_dataset_skips_and_logs_bad_image(tmp_path, basicsr_log):
    """With skip_bad_images the bad sample is logged by path once and the next good sample is returned."""
    gt, lq = make_pairs(tmp_path, ['a', 'b', 'c'])
    open(os.path.join(lq, 'b.png'), 'wb').close()
    dataset = build_dataset(paired_options(gt, lq, skip_bad_images=True))
    bad_index = [p['lq_path'] for p in dataset.paths].index(os.path.join(lq, 'b.png'))
    for _ in range(2):
        assert not dataset[bad_index]['lq_path'].endswith('b.png')
    warnings = [r.getMessage() for r in basicsr_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and os.path.join(lq, 'b.png') in warnings[0]


def test_paired_dataset_all_bad_raises(tmp_path):
    """When every sample is bad, skipping ends in a clear error instead of looping."""
    gt, lq = make_pairs(tmp_path, ['a'])
    open(os.path.join(gt, 'a.png'), 'wb').close()
    with pytest.raises(RuntimeError, match='Every sample'):
        build_dataset(paired_options(gt, lq, skip_bad_images=True))[0]


def test_paired_dataset_converts_and_crops(tmp_path):
    """A 16-bit grayscale HR of 17x19 with a 8x9 LR loads as RGB 16x18 (mod-cropped) with the right values."""
    os.makedirs(tmp_path / 'HR')
    os.makedirs(tmp_path / 'LR')
    cv2.imwrite(str(tmp_path / 'HR' / 'a.png'), np.full((17, 19), 65535, np.uint16))
    cv2.imwrite(str(tmp_path / 'LR' / 'a.png'), np.zeros((8, 9, 4), np.uint8))
    sample = build_dataset(paired_options(str(tmp_path / 'HR'), str(tmp_path / 'LR'), phase='val'))[0]
    assert sample['gt'].shape == (3, 16, 18) and sample['lq'].shape == (3, 8, 9)
    assert torch.all(sample['gt'] == 1) and torch.all(sample['lq'] == 0)


def test_paired_dataset_size_mismatch_is_named(tmp_path):
    """An HR that is not scale x LR (beyond mod-crop) is reported with both files; from LMDB with both folders and
    keys (a key alone named no folder)."""
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    gt, lq = make_pairs(tmp_path, ['a'])
    cv2.imwrite(os.path.join(lq, 'a.png'), np.zeros((5, 8, 3), np.uint8))
    with pytest.raises(BadImageError, match=r'HR.*a\.png.*does not match.*LR'):
        build_dataset(paired_options(gt, lq))[0]
    for folder in (gt, lq):
        make_lmdb_from_imgs(folder, f'{folder}.lmdb', ['a.png'], ['a'], map_size=1 << 24)
    options = paired_options(f'{gt}.lmdb', f'{lq}.lmdb', io_backend={'type': 'lmdb'})
    with pytest.raises(BadImageError, match=r'HR\.lmdb:a: HR size 16x16 does not match 2 x the LR size 5x8 of '
                                            r'.*LR\.lmdb:a'):
        build_dataset(options)[0]


def test_paired_dataset_missing_folder_names_key(tmp_path):
    """A missing data folder is named with its key when the data set is built."""
    gt, _ = make_pairs(tmp_path, ['a'])
    with pytest.raises(FileNotFoundError, match='dataroot_lq'):
        build_dataset(paired_options(gt, str(tmp_path / 'nope')))


def png_header(width, height):
    """A PNG that declares width x height gray pixels and holds none: what a header reader sees of a huge image."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b'')


def test_header_of_an_image_beyond_pillows_limit_is_read():
    """A 20000x20000 image (400 megapixels, beyond Pillow's decompression-bomb limit) has its size read from the
    header, so that the memory guard can refuse it before decoding; Pillow's limit is left as it was."""
    limit = Image.MAX_IMAGE_PIXELS
    assert read_header(png_header(20000, 20000)) == (20000, 20000, 1, 1)  # (Pillow would decode to find EXIF)
    assert Image.MAX_IMAGE_PIXELS == limit


@pytest.mark.parametrize('ext', ['.tif', '.webp'])
def test_multi_frame_images_are_refused(tmp_path, ext):
    """A multi-page TIFF or an animated WebP is refused naming the file and the frames (OpenCV decoded the first
    frame alone, without a word); a single frame decodes."""
    frames = [Image.fromarray(np.full((8, 8, 3), value, np.uint8)) for value in (10, 200)]
    frames[0].save(tmp_path / f'two{ext}', save_all=True, append_images=frames[1:], lossless=True)
    header = read_header(str(tmp_path / f'two{ext}'))
    assert header.frames == 2
    with pytest.raises(BadImageError, match=rf'two\{ext}: 2 frames \(an animation or a multi-page file\)'):
        read_image(str(tmp_path / f'two{ext}'))
    frames[0].save(tmp_path / f'one{ext}', lossless=True)
    assert read_image(str(tmp_path / f'one{ext}')).img.shape == (8, 8, 3)


def test_listing_survives_link_loops(tmp_path):
    """A link to itself is listed (reading it names the error) and a link back to a parent folder is not followed
    again: BasicSR's scandir stopped at the first and recursed through the second."""
    cv2.imwrite(str(tmp_path / 'ok.png'), np.zeros((4, 4, 3), np.uint8))
    os.symlink('loop.png', tmp_path / 'loop.png')
    (tmp_path / 'sub').mkdir()
    cv2.imwrite(str(tmp_path / 'sub' / 'deep.png'), np.zeros((4, 4, 3), np.uint8))
    os.symlink('..', tmp_path / 'sub' / 'up')
    assert image_files.list_images(str(tmp_path)) == [str(tmp_path / 'loop.png'), str(tmp_path / 'ok.png')]
    assert image_files.list_images(str(tmp_path), recursive=True) == [
        str(tmp_path / 'loop.png'), str(tmp_path / 'ok.png'), str(tmp_path / 'sub' / 'deep.png')]
    with pytest.raises(BadImageError, match=r'loop\.png: cannot be read \(Too many levels of symbolic links\)'):
        read_image(str(tmp_path / 'loop.png'))


def not_regular_entries(folder):
    """A link to /dev/zero, a FIFO and a folder named like images in ``folder`` (made when missing); their names."""
    folder.mkdir(exist_ok=True)
    os.symlink('/dev/zero', folder / 'zero.png')
    os.mkfifo(folder / 'fifo.png')
    (folder / 'dir.png').mkdir()
    return ['dir.png', 'fifo.png', 'zero.png']


@pytest.mark.skipif(not hasattr(os, 'mkfifo') or not os.path.exists('/dev/zero'), reason='POSIX special files')
def test_only_regular_files_are_read(tmp_path):
    """A link to /dev/zero (read without end before), a FIFO (blocked for ever) and a folder named x.png are listed,
    then refused by name without a byte read; their headers are None; the paired data set's disk reads refuse them
    the same way."""
    names = not_regular_entries(tmp_path / 'in')
    cv2.imwrite(str(tmp_path / 'in' / 'ok.png'), np.zeros((4, 4, 3), np.uint8))
    listed = image_files.list_images(str(tmp_path / 'in'))
    assert listed == sorted(str(tmp_path / 'in' / name) for name in [*names, 'ok.png'])
    for name in names:
        path = str(tmp_path / 'in' / name)
        assert read_header(path) is None
        with pytest.raises(BadImageError, match=rf'{name}: not a regular file \(a folder, device, FIFO'):
            read_image(path)
    gt, lq = make_pairs(tmp_path, ['a'])
    dataset = build_dataset(paired_options(gt, lq))
    os.remove(os.path.join(gt, 'a.png'))  # replaced after the listing (BasicSR's lists regular files only)
    os.symlink('/dev/zero', os.path.join(gt, 'a.png'))
    with pytest.raises(BadImageError, match=r'a\.png: not a regular file'):
        dataset[0]


def test_reads_are_bounded(tmp_path):
    """A file larger than the bound is refused before its first byte; one that grows while it is read (a /proc file
    says 0 bytes and holds more) is read no further than the bound plus one byte."""
    (tmp_path / 'big.png').write_bytes(b'x' * 20)
    with pytest.raises(BadImageError, match=r'big\.png: a file of 0\.0 MiB, more than the'):
        image_files.read_bytes(str(tmp_path / 'big.png'), max_bytes=10)
    assert image_files.read_bytes(str(tmp_path / 'big.png'), max_bytes=20) == b'x' * 20
    if os.path.isfile('/proc/self/maps'):
        with pytest.raises(BadImageError, match='maps: it grew past'):
            image_files.read_bytes('/proc/self/maps', max_bytes=10)
