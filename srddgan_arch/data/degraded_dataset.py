"""HR-only data set whose LR is made on the fly by the complex degradation (paper "Diverse forms of degradation")."""
import copy
import random
from os import path as osp

from basicsr.data.data_util import paths_from_lmdb
from basicsr.data.transforms import augment, mod_crop
from basicsr.utils import img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data

from srddgan_arch.data.degradations import DegradationOptions, degrade_image, rng_scope
from srddgan_arch.data.image_files import IMAGE_EXTENSIONS, BadImageError, list_images
from srddgan_arch.data.paired_dataset import ImageDatasetOptions, RobustImageReading
from srddgan_arch.options.parse_once import parse_once
from srddgan_arch.options.schema import option, section


@section('datasets.<phase>')
class DegradedDatasetOptions(ImageDatasetOptions):
    """``SRDDGANDegradedDataset``: HR only, the LR made on the fly."""

    use_hflip: bool = option(True, 'Random horizontal flips (training).')
    use_rot: bool = option(True, 'Random rotations (training).')
    degradation: DegradationOptions = option(DegradationOptions(), 'Probabilities and ranges of the degradation.')
    seed: int | None = option(None, 'Sample i made with seed + i (a fixed validation set); null: BasicSR seeds.',
                               ge=0)
    degrade_in_dataset: bool = option(True, 'false: the model degrades whole batches on its device.')


def hr_paths(dataroot_gt, io_backend, meta_info_file=None):
    """HR image paths (disk) or keys (LMDB) of a data set.

    Args:
        dataroot_gt (str): HR folder, or ``.lmdb`` folder for the lmdb backend.
        io_backend (dict): BasicSR io_backend options (``type``: disk or lmdb).
        meta_info_file (str | None): Text file whose first column lists HR files relative to ``dataroot_gt``.

    Returns:
        list[str]: Paths (disk) or LMDB keys.
    """
    if not osp.isdir(dataroot_gt or ''):
        raise FileNotFoundError(f'dataroot_gt {dataroot_gt!r} is not a folder.')
    if io_backend['type'] == 'lmdb':
        if not osp.isfile(osp.join(dataroot_gt, 'meta_info.txt')):
            raise FileNotFoundError(f'dataroot_gt {dataroot_gt}: LMDB meta_info.txt is missing.')
        return paths_from_lmdb(dataroot_gt)
    if meta_info_file is not None:
        with open(meta_info_file) as f:
            return [osp.join(dataroot_gt, line.split()[0]) for line in f if line.strip()]
    paths = list_images(dataroot_gt)
    if not paths:
        raise FileNotFoundError(f'dataroot_gt {dataroot_gt} holds no images ({", ".join(IMAGE_EXTENSIONS)}).')
    return paths


@DATASET_REGISTRY.register()
class SRDDGANDegradedDataset(RobustImageReading, data.Dataset):
    """Reads HR images only; LR is made by ``degrade_image`` in the data-loader workers (or, with
    ``degrade_in_dataset: false``, left to the model: ``degrade_batch`` in its ``feed_data``). Training crops
    ``gt_size`` patches at random and augments them; other phases take whole images, mod-cropped to the scale.

    Args:
        opt (dict): The keys of :class:`DegradedDatasetOptions`; ``scale`` and ``phase`` come from BasicSR.
    """

    options_section = DegradedDatasetOptions

    def __init__(self, opt):
        super().__init__()
        self.opt = copy.deepcopy(opt)
        self.settings = parse_once(DegradedDatasetOptions, self.opt)
        self.scale = self.settings.scale
        self.degradation = self.settings.degradation
        self.io_backend_opt = self.opt['io_backend']
        self.paths = hr_paths(self.settings.dataroot_gt, self.io_backend_opt, self.settings.meta_info_file)
        if self.io_backend_opt['type'] == 'lmdb':
            self.io_backend_opt.update(db_paths=[self.settings.dataroot_gt], client_keys=['gt'])
        if self.settings.phase == 'train' and self.settings.gt_size % self.scale:
            raise ValueError(f'gt_size {self.settings.gt_size} must be divisible by scale {self.scale}.')

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return self.load_skipping_bad(index)

    def load(self, index):
        """Sample ``index``: ``lq``, ``gt`` (RGB CHW tensors in [0, 1]), ``lq_path`` and ``gt_path`` (both the HR
        path), or only ``gt``/``gt_path`` with ``degrade_in_dataset: false``."""
        if self.settings.seed is None:
            return self._make_sample(index)
        with rng_scope(self.settings.seed + index):
            return self._make_sample(index)

    def _make_sample(self, index):
        gt_path = self.paths[index]
        img_gt = self.read_client_image(gt_path, 'gt')
        if self.settings.phase == 'train':
            img_gt = self._random_crop(img_gt, gt_path)
            img_gt = augment(img_gt, self.settings.use_hflip, self.settings.use_rot)
        else:
            img_gt = mod_crop(img_gt, self.scale)
        sample = {'gt': img2tensor(img_gt, bgr2rgb=True, float32=True), 'gt_path': gt_path}
        if self.settings.degrade_in_dataset:
            img_lq = degrade_image(img_gt, self.degradation)
            sample.update(lq=img2tensor(img_lq, bgr2rgb=True, float32=True), lq_path=gt_path)
        return sample

    def _random_crop(self, img, path):
        size = self.settings.gt_size
        h, w = img.shape[:2]
        if h < size or w < size:
            raise BadImageError(path, f'HR size {h}x{w} is smaller than gt_size {size}')
        top, left = random.randint(0, h - size), random.randint(0, w - size)
        return img[top:top + size, left:left + size]
