"""BasicSR's ``PairedImageDataset`` with inputs as they come and bad training images reported (or skipped) by path."""
import copy
from os import path as osp

from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, bgr2ycbcr, get_root_logger, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torchvision.transforms.functional import normalize

from srddgan_arch.data.image_io import BadImageError, decode_image, note_conversion


class RobustImageReading:
    """Mixin for datasets with ``io_backend_opt``, ``opt`` and ``__len__``: decoding through ``decode_image`` and
    the ``skip_bad_images`` option.

    Subclasses implement ``load(index)`` (the sample dict) and call ``load_skipping_bad(index)`` from
    ``__getitem__``.
    """

    file_client = None

    def read_client_image(self, path, client_key):
        """Read one image through the file client as BGR float32 in [0, 1], (h, w, 3).

        Args:
            path (str): File path (disk) or key (LMDB).
            client_key (str): 'gt' or 'lq'.

        Returns:
            ndarray: The image.
        """
        if self.file_client is None:
            backend = dict(self.io_backend_opt)
            self.file_client = FileClient(backend.pop('type'), **backend)
        location = path
        if self.io_backend_opt['type'] == 'lmdb':
            db_path = self.io_backend_opt['db_paths'][self.io_backend_opt['client_keys'].index(client_key)]
            location = f'{db_path}:{path}'
        try:
            content = self.file_client.get(path, client_key)
        except OSError as error:
            raise BadImageError(location, f'cannot be read ({error.strerror or error})') from error
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
                if not self.opt.get('skip_bad_images', False):
                    raise BadImageError(error.path, f'{error.reason} (set skip_bad_images: true in the dataset '
                                        'options to skip bad images)') from error
                self.bad_indices.add(candidate)
                get_root_logger().warning(f'Skipping {error} ({len(self.bad_indices)} bad sample(s) so far).')
        raise RuntimeError(f'Every sample of data set {self.opt.get("name", "")!r} is bad; see the warnings above.')


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
        opt (dict): BasicSR's ``PairedImageDataset`` options, plus:
            skip_bad_images (bool): Log and skip corrupt, empty, unreadable or mismatched samples instead of raising.
                Default: False.
    """

    def __init__(self, opt):
        opt = copy.deepcopy(opt)
        for key in ('dataroot_gt', 'dataroot_lq'):
            if not osp.exists(opt.get(key) or ''):
                raise FileNotFoundError(f'{opt.get("name", "dataset")}: {key} {opt.get(key)!r} does not exist.')
        super().__init__(opt)

    def __getitem__(self, index):
        return self.load_skipping_bad(index)

    def load(self, index):
        """Sample ``index`` as PairedImageDataset returns it: ``lq``, ``gt`` (RGB CHW tensors), ``lq_path``,
        ``gt_path``."""
        scale = self.opt['scale']
        gt_path, lq_path = self.paths[index]['gt_path'], self.paths[index]['lq_path']
        img_lq = self.read_client_image(lq_path, 'lq')
        img_gt = match_gt_to_lq(self.read_client_image(gt_path, 'gt'), img_lq, scale, gt_path, lq_path)
        if self.opt['phase'] == 'train':
            img_gt, img_lq = paired_random_crop(img_gt, img_lq, self.opt['gt_size'], scale, gt_path)
            img_gt, img_lq = augment([img_gt, img_lq], self.opt['use_hflip'], self.opt['use_rot'])
        if self.opt.get('color') == 'y':
            img_gt, img_lq = bgr2ycbcr(img_gt, y_only=True)[..., None], bgr2ycbcr(img_lq, y_only=True)[..., None]
        img_gt, img_lq = img2tensor([img_gt, img_lq], bgr2rgb=True, float32=True)
        if self.mean is not None or self.std is not None:
            normalize(img_lq, self.mean, self.std, inplace=True)
            normalize(img_gt, self.mean, self.std, inplace=True)
        return {'lq': img_lq, 'gt': img_gt, 'lq_path': lq_path, 'gt_path': gt_path}
