"""The iterations BasicSR's ``train.py`` really runs, from the training set's size and its data loader.

``create_train_val_dataloader`` counts ``ceil(images * dataset_enlarge_ratio / (batch_size_per_gpu * world_size))``
iterations per epoch and runs ``total_epochs + 1`` epochs of it, but its loader drops the partial batch
(``drop_last``) and batches ``batch_size_per_gpu * num_gpu`` images without a launcher (DataParallel): with 3 images
and batch 2, 10 iterations asked, 6 ran, and the log said "End of training".
"""
import math
from typing import NamedTuple

from srddgan_arch.options.schema import OptionError


class TrainLength(NamedTuple):
    """What a training run's loop does with its data.

    Args:
        per_epoch (int): Iterations of one epoch (full batches of the sampler's samples per process).
        epochs (int): The epochs BasicSR plans (it loops over ``epochs + 1``).
        iterations (int): The iterations it runs: ``min(total_iter, (epochs + 1) * per_epoch)``.
        epochs_needed (int): The smallest planned epochs that reach ``total_iter`` (None when no epoch has a batch).
    """

    per_epoch: int
    epochs: int
    iterations: int
    epochs_needed: int | None


def train_length(num_images, batch_size_per_gpu, total_iter, enlarge_ratio=1, world_size=1, num_gpu=0, dist=False):
    """The iterations BasicSR's train loop runs on a training set (``basicsr/train.py``, ``EnlargedSampler``,
    ``build_dataloader`` of BasicSR 1.4.2).

    Args:
        num_images (int): Images of the training set (``len(dataset)``).
        batch_size_per_gpu (int): ``datasets.train.batch_size_per_gpu``.
        total_iter (int): ``train.total_iter``.
        enlarge_ratio (int): ``datasets.train.dataset_enlarge_ratio``. Default: 1.
        world_size (int): Processes. Default: 1.
        num_gpu (int): ``num_gpu`` (resolved: no 'auto'). Default: 0.
        dist (bool): A distributed run (one GPU per process). Default: False.

    Returns:
        TrainLength: Iterations per epoch, planned epochs, iterations run, epochs needed.
    """
    samples = math.ceil(num_images * enlarge_ratio / world_size)  # EnlargedSampler.num_samples
    batch = batch_size_per_gpu if dist else batch_size_per_gpu * max(num_gpu, 1)
    per_epoch = samples // batch  # drop_last
    planned = math.ceil(total_iter / math.ceil(num_images * enlarge_ratio / (batch_size_per_gpu * world_size)))
    needed = None if per_epoch == 0 else max(math.ceil(total_iter / per_epoch) - 1, 0)
    return TrainLength(per_epoch, planned, min(total_iter, (planned + 1) * per_epoch), needed)


def epochs_for_total_iter(opt, num_images, total_epochs, total_iter):
    """The epochs a training run must plan to reach ``total_iter``: BasicSR's ``total_epochs`` when they do, else
    the epochs needed (logged as a warning that names the iterations BasicSR would have run).

    Args:
        opt (dict): Parsed options (``datasets.train``, ``world_size``, ``num_gpu``, ``dist``).
        num_images (int): Images of the training set.
        total_epochs (int): The epochs BasicSR planned.
        total_iter (int): ``train.total_iter``.

    Returns:
        int: The epochs to plan.
    """
    from basicsr.utils import get_root_logger
    train_opt = opt['datasets']['train']
    ratio, batch = train_opt.get('dataset_enlarge_ratio', 1), train_opt['batch_size_per_gpu']
    length = train_length(num_images, batch, total_iter, ratio, opt['world_size'], opt['num_gpu'], opt['dist'])
    if length.per_epoch == 0:
        raise OptionError(f'datasets.train: {num_images} images x dataset_enlarge_ratio {ratio} over '
                          f'{opt["world_size"]} process(es) make no full batch of batch_size_per_gpu {batch} (BasicSR '
                          'drops partial batches): no iteration would run; lower batch_size_per_gpu or raise '
                          'dataset_enlarge_ratio.')
    if length.iterations >= total_iter:
        return total_epochs
    get_root_logger().warning(
        f'datasets.train: {num_images} images, batch {batch}: BasicSR would stop after {length.iterations} of '
        f'train.total_iter = {total_iter} iterations ({length.per_epoch} per epoch: it drops the partial batch); '
        f'planning {length.epochs_needed + 1} epochs instead of {total_epochs + 1}.')
    return length.epochs_needed
