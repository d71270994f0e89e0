"""Content and style losses (paper Eqs. 12-14) and their offline VGG loading."""
import logging
import math

import pytest
import torch
from basicsr.utils import get_root_logger
from basicsr.utils.registry import LOSS_REGISTRY

from srddgan_arch.losses.content_style_loss import ContentStyleLoss, content_distance, gram_matrix, style_distance
from srddgan_arch.utils import download as downloader

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def copy_conv_state(path):
    """Save a torchvision-style VGG state dict with only conv1_1, which copies the 3 input channels to channels 0-2."""
    weight = torch.zeros(64, 3, 3, 3)
    for channel in range(3):
        weight[channel, channel, 1, 1] = 1
    torch.save({'features.0.weight': weight, 'features.0.bias': torch.zeros(64)}, path)
    return str(path)


@pytest.fixture
def copy_loss(tmp_path):
    """A loss on relu1_1 (weight 2) of the channel-copying conv1_1, without input normalisation, [0, 1] inputs."""
    path = copy_conv_state(tmp_path / 'vgg19_conv1_1.pth')
    return ContentStyleLoss(layer_weights={'relu1_1': 2}, use_input_norm=False, range_norm=False,
                            pretrained_path=path)


@pytest.mark.parametrize('distance, expected', [('printed', 5 / 4), ('rms', 5 / 2), ('mse', 25 / 4)])
def test_content_distance_by_hand(distance, expected):
    """Eq. 12 on one image with c=2, h=1, w=2 and differences 3, 4 (norm 5): as printed 5 / (h·w·c), the RMS
    5 / sqrt(4) and the feature MSE of Johnson et al. (9 + 16) / 4."""
    feat = torch.tensor([[[[3., 0.]], [[0., 4.]]]])
    assert content_distance(feat, torch.zeros_like(feat), distance).tolist() == [expected]


@pytest.mark.parametrize('gram_norm, divisor', [('none', 1), ('hw', 2), ('chw', 4)])
def test_gram_matrix_by_hand(gram_norm, divisor):
    """Eq. 13: channels (1, 2) and (3, 4) give [[5, 11], [11, 25]], divided as gram_norm says."""
    feat = torch.tensor([[[[1., 2.]], [[3., 4.]]]])
    expected = torch.tensor([[[5., 11.], [11., 25.]]]) / divisor
    assert torch.equal(gram_matrix(feat, gram_norm), expected)


def test_gram_matrix_float32_under_autocast():
    """Under bf16 autocast the Gram matrix is still computed and returned in float32."""
    feat = torch.rand(1, 4, 8, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        gram = gram_matrix(feat.bfloat16())
    assert gram.dtype == torch.float32
    assert torch.allclose(gram, gram_matrix(feat.bfloat16().float()))


@pytest.mark.parametrize('gram_norm, distance, expected', [
    ('none', 'printed', math.sqrt(892) / 4),
    ('none', 'mse', 892 / 4),
    ('hw', 'rms', math.sqrt(892 / 4) / 2),
    ('hw', 'mse', 892 / 4 / 4),
])
def test_style_distance_by_hand(gram_norm, distance, expected):
    """Eq. 14 on the Gram [[5, 11], [11, 25]] (squared entries sum to 892, c² = 4, h·w = 2): as printed ||G||_F / c²,
    and the RMS and mean square of the entries of G / (h·w)."""
    feat = torch.tensor([[[[1., 2.]], [[3., 4.]]]])
    distance = style_distance(feat, torch.zeros_like(feat), gram_norm, distance)
    assert distance.item() == pytest.approx(expected)


def test_style_distances_are_johnsons():
    """With Grams per position, 'rms' is the Frobenius distance of Johnson et al.'s Grams (divided by c·h·w) and
    'mse' their style loss, its square."""
    feat, target = torch.rand(2, 6, 5, 7), torch.rand(2, 6, 5, 7)
    johnson = torch.linalg.matrix_norm(gram_matrix(feat, 'chw') - gram_matrix(target, 'chw'))
    assert torch.allclose(style_distance(feat, target, 'hw', 'rms'), johnson)
    assert torch.allclose(style_distance(feat, target, 'hw', 'mse'), johnson.square())


def test_loss_by_hand_from_weight_file(copy_loss):
    """Through the loaded conv1_1 (weight 2): 48 feature differences of 0.5 among 64·16 (content MSE 12 / 1024), and
    per position a 3x3 block of Gram differences of 0.25 among 64² (style RMS sqrt(9 / 64²) · 0.25)."""
    pred, target = torch.full((1, 3, 4, 4), 0.5), torch.zeros(1, 3, 4, 4)
    l_content, l_style = copy_loss(pred, target)
    assert l_content.item() == pytest.approx(0.8 * 2 * 48 * 0.25 / (64 * 16))
    assert l_style.item() == pytest.approx(0.2 * 2 * 0.25 * math.sqrt(9) / 64)


def test_printed_form_by_hand(tmp_path):
    """content_distance / style_distance 'printed' with raw Grams are Eqs. 12 and 14 as printed."""
    loss = ContentStyleLoss(layer_weights={'relu1_1': 2}, use_input_norm=False, range_norm=False,
                            pretrained_path=copy_conv_state(tmp_path / 'vgg.pth'), content_distance='printed',
                            style_distance='printed', gram_norm='none')
    l_content, l_style = loss(torch.full((1, 3, 4, 4), 0.5), torch.zeros(1, 3, 4, 4))
    assert l_content.item() == pytest.approx(0.8 * 2 * math.sqrt(48 * 0.25) / (64 * 16))
    assert l_style.item() == pytest.approx(0.2 * 2 * math.sqrt(9 * 4**2) / 64**2)


def test_input_normalisation(tmp_path):
    """With ImageNet normalisation, the mean image maps to 0 and mean + std to 1 (range_norm first maps [-1, 1])."""
    loss = ContentStyleLoss(layer_weights={'relu1_1': 1}, style_weight=0, range_norm=True,
                            pretrained_path=copy_conv_state(tmp_path / 'vgg.pth'))
    mean_image = IMAGENET_MEAN.expand(1, 3, 4, 4)
    l_content, l_style = loss((mean_image + IMAGENET_STD) * 2 - 1, mean_image * 2 - 1)
    assert l_style is None
    assert l_content.item() == pytest.approx(0.8 * 48 / (64 * 16), rel=1e-5)


def test_reductions(copy_loss):
    """'none' gives one loss per image, 'sum' their sum and 'mean' their mean."""
    pred, target = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    copy_loss.reduction = 'none'
    per_image = copy_loss(pred, target)
    copy_loss.reduction = 'sum'
    summed = copy_loss(pred, target)
    copy_loss.reduction = 'mean'
    mean = copy_loss(pred, target)
    for none_value, sum_value, mean_value in zip(per_image, summed, mean, strict=True):
        assert none_value.shape == (3,)
        assert sum_value.item() == pytest.approx(none_value.sum().item())
        assert mean_value.item() == pytest.approx(none_value.mean().item())


def test_gradients_reach_pred_only(copy_loss):
    """The VGG is frozen and stays in eval mode; pred gets finite gradients, also where pred equals the target."""
    pred = torch.rand(2, 3, 8, 8, requires_grad=True)
    target = torch.cat([pred[:1].detach(), torch.rand(1, 3, 8, 8)])
    sum(copy_loss(pred, target)).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[1].abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in copy_loss.vgg.parameters())
    assert not copy_loss.train().vgg.training


def test_weights_from_torchvision_cache(tmp_path, monkeypatch, trusted_hashes):
    """Without pretrained_path the file is read from $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    (tmp_path / 'hub' / 'checkpoints').mkdir(parents=True)
    copy_conv_state(tmp_path / 'hub' / 'checkpoints' / 'vgg19-dcbb9e9d.pth')
    loss = LOSS_REGISTRY.get('ContentStyleLoss')(layer_weights={'relu1_1': 1})
    assert loss.vgg.body[0].weight[1, 1, 1, 1] == 1 and loss.vgg.body[0].weight.abs().sum() == 3


def test_missing_weights_offline_error(tmp_path, monkeypatch):
    """Not in the cache and no network: the constructor names the file, the cache folder, the failed download, the
    address and pretrained_path; a missing pretrained_path is never downloaded."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError, match='vgg19-dcbb9e9d.pth') as error:
        ContentStyleLoss()
    message = str(error.value)
    assert str(tmp_path / 'hub' / 'checkpoints') in message and 'pretrained_path' in message
    assert 'downloading it failed (<urlopen error no network' in message
    assert 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth' in message
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        ContentStyleLoss(pretrained_path=str(tmp_path / 'missing.pth'))


def test_weights_downloaded_into_torchvision_cache(tmp_path, monkeypatch, trusted_hashes):
    """Online, the missing file is downloaded once into torchvision's cache, with its hash prefix checked, as
    torchvision's vgg19(weights=...) does; the next loss reads the cached file."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    downloads = []

    def download(url, dst, hash_prefix=None, progress=True):
        downloads.append((url, hash_prefix))
        copy_conv_state(dst)

    monkeypatch.setattr(downloader, 'download_url_to_file', download)
    for _ in range(2):
        loss = ContentStyleLoss(layer_weights={'relu1_1': 1})
        assert loss.vgg.body[0].weight.abs().sum() == 3
    assert downloads == [('https://download.pytorch.org/models/vgg19-dcbb9e9d.pth', 'dcbb9e9d')]
    assert (tmp_path / 'hub' / 'checkpoints' / 'vgg19-dcbb9e9d.pth').is_file()


def test_incomplete_weight_file(tmp_path):
    """A file without the tensors of a requested layer is refused, naming the missing key."""
    path = copy_conv_state(tmp_path / 'vgg.pth')
    with pytest.raises(KeyError, match='features.2.weight'):
        ContentStyleLoss(layer_weights={'relu1_2': 1}, pretrained_path=path)


@pytest.mark.parametrize('options, message', [
    ({'layer_weights': {'relu3_3': 1, 'relu9_9': 1}}, "relu9_9.*valid names.*'relu4_1'"),
    ({'vgg_type': 'vgg11'}, 'vgg_type'),
    ({'gram_norm': 'c'}, 'gram_norm'),
    ({'content_distance': 'l3'}, 'content_distance'),
    ({'style_distance': 'sum'}, 'style_distance'),
    ({'reduction': 'max'}, 'reduction'),
])
def test_bad_options(options, message):
    """Unknown layers, VGG types, Gram normalisations, distances and reductions are refused with the valid
    choices."""
    with pytest.raises(ValueError, match=message):
        ContentStyleLoss(pretrained=False, **options)


def test_random_weights_warn_and_truncate(caplog, monkeypatch):
    """pretrained: false logs a warning; the network stops after the last requested layer (relu4_1 = index 20)."""
    monkeypatch.setattr(get_root_logger(), 'propagate', True)
    with caplog.at_level(logging.WARNING, logger='basicsr'):
        loss = ContentStyleLoss(pretrained=False)
    assert 'tests only' in caplog.text
    assert len(loss.vgg.body) == 21
    l_content, l_style = loss(torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1)
    assert l_content > 0 and l_style > 0


def test_l1_content_distance_is_basicsr_perceptual_l1():
    """content_distance 'l1' is the mean absolute feature difference (BasicSR PerceptualLoss, criterion l1)."""
    feat, target = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(content_distance(feat, target, 'l1').mean(), torch.nn.functional.l1_loss(feat, target))
