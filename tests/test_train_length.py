"""The iterations BasicSR's train loop really runs (``options/iterations.py``) and the epochs that reach total_iter."""
import basicsr.train
import pytest
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler
from conftest import write_paired_images

from srddgan_arch.options import OptionError
from srddgan_arch.options.iterations import train_length


@pytest.mark.parametrize('images, batch, total_iter, ratio, world_size, num_gpu, dist, iterations', [
    (3, 2, 10, 1, 1, 0, False, 6),  # the run: 1 full batch per epoch, 5 + 1 epochs planned
    (4, 2, 10, 1, 1, 0, False, 10),
    (3, 2, 10, 2, 1, 0, False, 10),  # enlarged: 6 samples, 3 batches
    (8, 2, 10, 1, 1, 2, False, 8),  # DataParallel: batches of 4, BasicSR counts batches of 2
    (5, 2, 20, 1, 2, 1, True, 11),  # 2 ranks: 3 samples each, 1 full batch
    (1, 2, 10, 1, 1, 0, False, 0),
])
def test_train_length_counts_full_batches(images, batch, total_iter, ratio, world_size, num_gpu, dist, iterations):
    """Iterations run = min(total_iter, (planned epochs + 1) x full batches per epoch)."""
    length = train_length(images, batch, total_iter, ratio, world_size, num_gpu, dist)
    assert length.iterations == iterations
    if length.per_epoch:
        assert (length.epochs_needed + 1) * length.per_epoch >= total_iter > length.epochs_needed * length.per_epoch


def _loop_iterations(train_loader, sampler, total_epochs, total_iters):
    """The iterations of ``basicsr.train.train_pipeline``'s loop (its epochs and its break), without a model."""
    current_iter = 0
    for epoch in range(total_epochs + 1):
        sampler.set_epoch(epoch)
        for _ in train_loader:
            current_iter += 1
            if current_iter > total_iters:
                return total_iters
    return current_iter


def _train_options(tmp_path, num_images, batch):
    hr_dir, lr_dir = write_paired_images(str(tmp_path / 'data'), num_images=num_images)
    return {'datasets': {'train': {
        'name': 'train', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': 4, 'dataroot_gt': hr_dir,
        'dataroot_lq': lr_dir, 'io_backend': {'type': 'disk'}, 'gt_size': 32, 'use_hflip': False, 'use_rot': False,
        'batch_size_per_gpu': batch, 'num_worker_per_gpu': 0}},
        'train': {'total_iter': 10}, 'world_size': 1, 'rank': 0, 'num_gpu': 0, 'dist': False, 'manual_seed': 0}


def test_a_small_training_set_runs_every_iteration_asked(tmp_path):
    """3 images, batch 2, 10 iterations: BasicSR's loop ran 6 ("End of training"); the planned epochs now reach 10."""
    import logging
    opt = _train_options(tmp_path, 3, 2)
    logger = logging.getLogger('test')
    train_loader, sampler, _, total_epochs, total_iters = basicsr.train.create_train_val_dataloader(opt, logger)
    assert _loop_iterations(train_loader, sampler, total_epochs, total_iters) == 10
    train_set = build_dataset(opt['datasets']['train'])  # BasicSR's own count, for the record
    plain_loader = build_dataloader(train_set, opt['datasets']['train'], num_gpu=0, sampler=EnlargedSampler(
        train_set, 1, 0))
    assert _loop_iterations(plain_loader, plain_loader.sampler, 5, 10) == 6


def test_a_training_set_without_a_full_batch_is_refused(tmp_path):
    """Fewer samples than one batch: no iteration would run; the error says what to change."""
    import logging
    opt = _train_options(tmp_path, 1, 2)
    with pytest.raises(OptionError, match=r'datasets.train: 1 images .* no full batch .*lower batch_size_per_gpu'):
        basicsr.train.create_train_val_dataloader(opt, logging.getLogger('test'))
