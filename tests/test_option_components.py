"""Components added after the option checks were written (a data set, a loss term, a metric): each brings its own
knowledge through its section, its class or its signature, and no central list names them."""

import pytest
import torch
from basicsr.utils.registry import DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY
from conftest import run_options

from srddgan_arch.models.srddgan_options import TrainOptions, parse_model_options
from srddgan_arch.options import OptionError, schema
from srddgan_arch.options.pipeline_sections import DatasetOptions
from srddgan_arch.options.runs import check_run_options
from srddgan_arch.options.signatures import check_built_sections


# components added after the checks were written: each brings its own knowledge, no central list names them
@schema.section('datasets.<phase>')
class ToyDatasetOptions(DatasetOptions):
    """The section of ``ToyCropDataset``."""

    crop_size: int = schema.option(16, 'Side of the crops.', gt=0)


@DATASET_REGISTRY.register()
class ToyCropDataset(torch.utils.data.Dataset):
    """A data set type that carries its section."""

    options_section = ToyDatasetOptions


@schema.section('train')
class TrainWithEdgeOptions(TrainOptions):
    """TrainOptions with one more loss term: its place is one field."""

    edge_opt: dict | None = schema.option(None, 'Edge loss on the predicted y0.', builds=LOSS_REGISTRY)


@LOSS_REGISTRY.register()
class ToyEdgeLoss(torch.nn.Module):
    """A loss term's class, with BasicSR's loss arguments."""

    def __init__(self, loss_weight=1.0, reduction='mean'):
        super().__init__()


def calculate_toy_edges(img, img2, threshold=0.5, **kwargs):
    """A per-image metric."""
    return 0.0


def calculate_toy_spread(samples, **kwargs):
    """A set metric: its signature takes the samples."""
    return 0.0


def calculate_toy_lpips(img, img2, net='alex', backbone_path=None, **kwargs):
    """A metric on an LPIPS backbone: its signature takes net and backbone_path."""
    return 0.0


for toy_metric in (calculate_toy_edges, calculate_toy_spread, calculate_toy_lpips):
    METRIC_REGISTRY.register(toy_metric)


def test_a_new_data_set_type_is_checked_through_its_section(tmp_path):
    """A data set class that carries its section (options_section) has its keys checked, misspellings named."""
    opt = run_options(tmp_path)
    opt['datasets']['train'] = {'name': 'toy', 'type': 'ToyCropDataset', 'io_backend': {'type': 'disk'},
                                'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0, 'crop_sise': 8}
    with pytest.raises(OptionError, match=r'Unknown option datasets\.train\.crop_sise\. Did you mean .crop_size.'):
        check_run_options(opt)
    opt['datasets']['train']['crop_size'] = opt['datasets']['train'].pop('crop_sise')
    check_run_options(opt)


def test_a_new_loss_term_is_checked_against_its_class():
    """A loss term declared as a field with builds=LOSS_REGISTRY has its keys checked against the loss class."""
    train = TrainWithEdgeOptions.from_dict({'total_iter': 1, 'optim_g': {}, 'optim_d': {},
                                            'edge_opt': {'type': 'ToyEdgeLoss', 'loss_wieght': 2.0}})
    with pytest.raises(OptionError, match=r'train\.edge_opt\.loss_wieght is not an argument of ToyEdgeLoss\. Did you '
                       r'mean .loss_weight.'):
        check_built_sections(train, 'train')


@pytest.mark.parametrize('metric, num_samples, message', [
    ({'type': 'calculate_toy_edges', 'threshhold': 0.1}, 2, r'val\.metrics\.toy\.threshhold is not an argument of '
     r'calculate_toy_edges\. Did you mean .threshold.'),
    ({'type': 'calculate_toy_spread'}, 1, r'val\.metrics\.toy: calculate_toy_spread needs val\.num_samples >= 2'),
    ({'type': 'calculate_toy_lpips', 'backbone_path': '/no/backbone.pth'}, 2, r'val\.metrics\.toy: .*backbone\.pth'),
])
def test_a_new_metric_is_checked_by_its_signature(tmp_path, metric, num_samples, message):
    """A newly registered metric is checked by its signature alone: misspelt arguments, a set metric (it takes
    samples) with one sample per image, an LPIPS metric (net, backbone_path) whose backbone file is missing."""
    opt = run_options(tmp_path)
    opt['val'].update(num_samples=num_samples, metrics={'toy': metric})
    with pytest.raises(OptionError, match=message):
        parse_model_options(opt)
