"""BasicSR's ``PairedImageDataset`` with inputs as they come and bad training images reported (or skipped) by path."""
import copy
from numbers import Real
from os import path as osp

from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, bgr2ycbcr, get_root_logger, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torchvision.transforms.functional import normalize

from srddgan_arch.data.image_files import BadImageError, read_bytes
from srddgan_arch.data.image_io import decode_image, note_conversion
from srddgan_arch.options.parse_once import parse_once
from srddgan_arch.options.pipeline_sections import DatasetOptions
from srddgan_arch.options.schema import REQUIRED, OptionError, option, section, shown


@section('datasets.<phase>')
class ImageDatasetOptions(DatasetOptions):
    """The keys srddgan's data sets share with BasicSR's ``PairedImageDataset``."""

    dataroot_gt: str = option(REQUIRED, 'HR folder (.lmdb folder with io_backend lmdb).')
    meta_info_file: str | None = option(None, 'Disk backend: the HR files to use, one a line.')
    gt_size: int | None = option(None, 'HR crop size for training.', gt=0)
    skip_bad_images: bool = option(False, 'Log and skip corrupt or unreadable images instead of stopping.')

    def validate(self, key):
        super().validate(key)
        self.require_for_training(key, 'gt_size')

    def image_folders(self):
        """The data folders of the data set, by key: ``dataroot_gt`` (and ``dataroot_lq`` for paired data)."""
        return {'dataroot_gt': self.dataroot_gt}


@section('datasets.<phase>')
class PairedDatasetOptions(ImageDatasetOptions):
    """``PairedImageDataset`` (BasicSR's, built as ``SRDDGANPairedDataset``) and ``SRDDGANPairedDataset``."""

    dataroot_lq: str = option(REQUIRED, 'LR folder (.lmdb folder with io_backend lmdb).')
    filename_tmpl: str = option('{}', 'LR file name from the HR one (without the extension).')
    use_hflip: bool | None = option(None, 'Random horizontal flips (training).')
    use_rot: bool | None = option(None, 'Random rotations (training).')
    color: str | None = option(None, 'y: train and test on the Y channel.', choices=('y', ))
    mean: list | None = option(None, 'Per-channel mean subtracted from both images.')
    std: list | None = option(None, 'Per-channel standard deviation both images are divided by.')

    def validate(self, key):
        super().validate(key)
        self.require_for_training(key, 'use_hflip', 'use_rot')
        for name in ('mean', 'std'):
            values = getattr(self, name)
            if values is not None and not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
                raise OptionError(f'{key(name)} must be a list of numbers, one per channel, got {shown(values)}.')
        if self.std is not None and not all(v > 0 for v in self.std):
            raise OptionError(f'{key("std")}: images are divided by it, so every value must be positive, got '
                              f'{shown(self.std)}.')

    def image_folders(self):
        return {**super().image_folders(), 'dataroot_lq': self.dataroot_lq}


class RobustImageReading:
    """Mixin for datasets with ``io_backend_opt``, ``settings`` (:class:`ImageDatasetOptions`) and ``__len__``:
    decoding through ``decode_image`` and the ``skip_bad_images`` option.

    Subclasses implement ``load(index)`` (the sample dict) and call ``load_skipping_bad(index)`` from
    ``__getitem__``.
    """

    file_client = None

    def location(self, path, client_key):
        """Where an image is, for messages: its file, or ``<LMDB folder>:<key>`` (an LMDB key alone names no folder).

        Args:
            path (str): File path (disk) or key (LMDB).
            client_key (str): 'gt' or 'lq'.

        Returns:
            str: The location.
        """
        if self.io_backend_opt['type'] != 'lmdb':
            return path
        return f'{self.io_backend_opt["db_paths"][self.io_backend_opt["client_keys"].index(client_key)]}:{path}'

    def read_client_image(self, path, client_key):
        """Read one image through the file client as BGR float32 in [0, 1], (h, w, 3); a file on disk through
        ``read_bytes`` instead (BasicSR's disk client reads a FIFO, a device or a link to ``/dev/zero`` without end).

        Args:
            path (str): File path (disk) or key (LMDB).
            client_key (str): 'gt' or 'lq'.

        Returns:
            ndarray: The image.
        """
        location = self.location(path, client_key)
        if self.io_backend_opt['type'] == 'disk':
            return self._decoded(read_bytes(path), location)
        if self.file_client is None:
            backend = dict(self.io_backend_opt)
            self.file_client = FileClient(backend.pop('type'), **backend)
        try:
            content = self.file_client.get(path, client_key)
        except OSError as error:
            raise BadImageError(location, f'cannot be read ({error.strerror or error})') from error
        return self._decoded(content, location)

    @staticmethod
    def _decoded(content, location):
        """The colour image of an encoded image, its conversion noted once per kind."""
        image = decode_image(content, location)
        note_conversion(image.conversion, location)
        return image.img

    def load_skipping_bad(self, index):
        """``load(index)``; a bad image raises ``BadImageError`` naming it, or with ``skip_bad_images`` is logged and
        the next good sample is returned instead.

        Args:
            index (int): Sample index.

        Returns:
            dict: The sample.
        """
        if not hasattr(self, 'bad_indices'):
            self.bad_indices = set()
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)
            if candidate in self.bad_indices:
                continue
            try:
                return self.load(candidate)
            except BadImageError as error:
                if not self.settings.skip_bad_images:
                    raise BadImageError(error.path, f'{error.reason} (set skip_bad_images: true in the dataset '
                                        'options to skip bad images)') from error
                self.bad_indices.add(candidate)
                get_root_logger().warning(f'Skipping {error} ({len(self.bad_indices)} bad sample(s) so far).')
        raise RuntimeError(f'Every sample of data set {self.settings.name!r} is bad; see the warnings above.')


def match_gt_to_lq(img_gt, img_lq, scale, gt_path, lq_path):
    """Crop an HR image whose size is not ``scale`` times the LR size by less than ``scale`` (mod-crop, top-left);
    any other mismatch is a bad pair.

    Args:
        img_gt (ndarray): HR image (h, w, c).
        img_lq (ndarray): LR image (h', w', c).
        scale (int): The scale.
        gt_path (str): HR file, for the error.
        lq_path (str): LR file, for the error.

    Returns:
        ndarray: HR image of size (h' * scale, w' * scale).
    """
    h, w = img_lq.shape[0] * scale, img_lq.shape[1] * scale
    if not (h <= img_gt.shape[0] < h + scale and w <= img_gt.shape[1] < w + scale):
        raise BadImageError(gt_path, f'HR size {img_gt.shape[0]}x{img_gt.shape[1]} does not match {scale} x the LR '
                            f'size {img_lq.shape[0]}x{img_lq.shape[1]} of {lq_path}')
    return img_gt[:h, :w]


@DATASET_REGISTRY.register()
class SRDDGANPairedDataset(RobustImageReading, PairedImageDataset):
    """``PairedImageDataset`` (same options, disk, meta_info file or LMDB) that also accepts grayscale, RGBA and 16-bit
    images, crops HR sizes not divisible by the scale, and reports bad images by path.

    Args:
        opt (dict): The keys of :class:`PairedDatasetOptions` (BasicSR's ``PairedImageDataset`` options and
            ``skip_bad_images``); other keys are left to the option files' other readers.
    """

    options_section = PairedDatasetOptions

    def __init__(self, opt):
        opt = copy.deepcopy(opt)
        # type: PairedImageDataset builds this class for the option files of BasicSR's own models too, whose data
        # sets may carry keys that other readers take (use_shuffle, ...): only this section's keys are read
        known = {key: value for key, value in opt.items() if key in PairedDatasetOptions.rules}
        self.settings = parse_once(PairedDatasetOptions, known)
        for key, folder in self.settings.image_folders().items():
            if not osp.exists(folder):
                raise FileNotFoundError(f'{self.settings.name}: {key} {folder!r} does not exist.')
        super().__init__(opt)

    def __getitem__(self, index):
        return self.load_skipping_bad(index)

    def load(self, index):
        """Sample ``index`` as PairedImageDataset returns it: ``lq``, ``gt`` (RGB CHW tensors), ``lq_path``,
        ``gt_path``."""
        settings = self.settings
        gt_path, lq_path = self.paths[index]['gt_path'], self.paths[index]['lq_path']
        img_lq = self.read_client_image(lq_path, 'lq')
        img_gt = match_gt_to_lq(self.read_client_image(gt_path, 'gt'), img_lq, settings.scale,
                                self.location(gt_path, 'gt'), self.location(lq_path, 'lq'))
        if settings.phase == 'train':
            img_gt, img_lq = paired_random_crop(img_gt, img_lq, settings.gt_size, settings.scale, gt_path)
            img_gt, img_lq = augment([img_gt, img_lq], settings.use_hflip, settings.use_rot)
        if settings.color == 'y':
            img_gt, img_lq = bgr2ycbcr(img_gt, y_only=True)[..., None], bgr2ycbcr(img_lq, y_only=True)[..., None]
        img_gt, img_lq = img2tensor([img_gt, img_lq], bgr2rgb=True, float32=True)
        if self.mean is not None or self.std is not None:
            normalize(img_lq, self.mean, self.std, inplace=True)
            normalize(img_gt, self.mean, self.std, inplace=True)
        return {'lq': img_lq, 'gt': img_gt, 'lq_path': lq_path, 'gt_path': gt_path}
