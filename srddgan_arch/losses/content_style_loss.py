"""Content and style losses on VGG-19 features (paper Eqs. 12-14)."""
import math
from functools import partial

import torch
from basicsr.utils import get_root_logger
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

from srddgan_arch.losses.vgg_features import VGG_WEIGHT_FILES, VGGFeatures
from srddgan_arch.utils.torchvision_weights import locate_torchvision_weights

GRAM_NORMS = ('none', 'hw', 'chw')
DISTANCES = ('mse', 'rms', 'printed', 'l1')
REDUCTIONS = ('mean', 'sum', 'none')


def mean_distance(diff, distance):
    """A distance of flattened differences (B, N), normalised by their number N.

    Eqs. 12 and 14 print ||d|| / N ('printed'): RMS(d) / sqrt(N), which shrinks with the number of entries. 'mse' is
    ||d||² / N, the mean squared difference; 'rms' is ||d|| / sqrt(N), its square root.

    Args:
        diff (Tensor): Differences, shape (B, N).
        distance (str): 'mse', 'rms', 'printed' or 'l1' (the mean absolute difference: BasicSR PerceptualLoss's
            criterion l1).

    Returns:
        Tensor: Shape (B,).
    """
    if distance == 'mse':
        return diff.square().mean(1)
    if distance == 'l1':  # BasicSR PerceptualLoss's criterion l1 (Real-ESRGAN's files)
        return diff.abs().mean(1)
    norm = torch.linalg.vector_norm(diff, dim=1)  # its gradient is 0, not NaN, where diff is 0
    return norm / (math.sqrt(diff.shape[1]) if distance == 'rms' else diff.shape[1])


def content_distance(feat, feat_target, distance='mse'):
    """Eq. 12 per image: the distance of the features, normalised by their number h·w·c.

    Eq. 12 prints sqrt(sum of squared differences) / (h·w·c) ('printed'), the form of the SR survey it cites (its
    ref. 1). The loss comes from Johnson et al. 2016, whose norm is squared: ||phi(I') - phi(I)||² / (h·w·c) ('mse'),
    the mean squared feature difference. As printed the term is RMS(difference) / sqrt(h·w·c), RMS / 1024 at relu1_2
    on 128-px crops: at the paper's weights it does not move G (``scripts/loss_scales.py`` measures it).

    Args:
        feat (Tensor): Features of the prediction, shape (B, C, h, w).
        feat_target (Tensor): Features of the target, same shape.
        distance (str): 'mse', 'rms' or 'printed', see ``mean_distance``. Default: 'mse'.

    Returns:
        Tensor: Shape (B,).
    """
    return mean_distance((feat.float() - feat_target.float()).flatten(1), distance)


def gram_matrix(feat, gram_norm='hw'):
    """Eq. 13: inner products of the vectorised channels, G_ij = vec(phi_i)·vec(phi_j).

    Args:
        feat (Tensor): Features, shape (B, C, h, w).
        gram_norm (str): Divide G by nothing ('none', Eq. 13 as printed), by h·w ('hw', mean over positions) or by
            c·h·w ('chw', Johnson et al. 2016 and BasicSR's PerceptualLoss). Default: 'hw'.

    Returns:
        Tensor: Shape (B, C, C), float32 (also under autocast).
    """
    b, c, h, w = feat.shape
    with torch.autocast(feat.device.type, enabled=False):  # the difference of two large Grams needs float32
        vec = feat.float().reshape(b, c, h * w)
        gram = vec @ vec.transpose(1, 2)
    return gram / {'none': 1, 'hw': h * w, 'chw': c * h * w}[gram_norm]


def style_distance(feat, feat_target, gram_norm='hw', distance='rms'):
    """Eq. 14 per image: the distance of the Gram matrices, normalised by their number of entries c².

    Eq. 14 prints ||G(I') - G(I)||_F / c² ('printed') on the raw Grams of Eq. 13 ('none'): a term that grows with
    h·w (16 times from 32- to 128-px crops). With Grams per position ('hw') it does not; 'rms' is then
    ||G(I') - G(I)||_F / c, which equals the Frobenius distance of Johnson et al. 2016's Grams (divided by c·h·w),
    their style loss before squaring; 'mse' squares it (their style loss itself).

    Args:
        feat (Tensor): Features of the prediction, shape (B, C, h, w).
        feat_target (Tensor): Features of the target, same shape.
        gram_norm (str): Gram matrix normalisation, see ``gram_matrix``. Default: 'hw'.
        distance (str): 'mse', 'rms' or 'printed', see ``mean_distance``. Default: 'rms'.

    Returns:
        Tensor: Shape (B,).
    """
    return mean_distance((gram_matrix(feat, gram_norm) - gram_matrix(feat_target, gram_norm)).flatten(1), distance)


@LOSS_REGISTRY.register()
class ContentStyleLoss(nn.Module):
    """Content (Eq. 12) and style (Eq. 14) losses on frozen VGG features, weighted sums over layers.

    As printed, Eq. 12 divides a norm by the number of features and does not move G at the paper's weights, and
    Eq. 14 grows with the image area. The defaults keep both terms effective: Eq. 12 as Johnson et al. 2016 (the
    mean squared feature difference), Eq. 14 on Grams per position as the RMS of their differences;
    ``scripts/loss_scales.py`` prints the gradient each term gives G.

    The VGG weights come from ``pretrained_path`` or, as torchvision's ``vgg19(weights=...)``, from its cache
    (``vgg19-dcbb9e9d.pth`` under ``torch.hub.get_dir()/checkpoints``), downloaded there when missing; when that
    fails the constructor raises, naming the file and where to put it (random weights only with pretrained false).

    Args:
        layer_weights (dict[str, float]): VGG layer name -> weight, e.g. {'relu1_2': 1, 'relu4_1': 1}.
            Default: relu1_2, relu2_2, relu3_3, relu4_1 (the paper's layers), each 1.
        content_weight (float): Factor of the content loss (beta of Eq. 22); 0 disables it. Default: 0.8.
        style_weight (float): Factor of the style loss (eta of Eq. 22); 0 disables it. Default: 0.2.
        vgg_type (str): 'vgg19' or 'vgg16'. Default: 'vgg19'.
        use_input_norm (bool): ImageNet normalisation of [0, 1] inputs. Default: True.
        range_norm (bool): Inputs are in [-1, 1] and are mapped to [0, 1] first. Default: True.
        pretrained (bool): Load the ImageNet weights. False (random weights) is for tests only. Default: True.
        pretrained_path (str | None): torchvision state dict of the VGG; None: torchvision's cache (downloaded there
            when missing). Default: None.
        content_distance (str): Eq. 12's distance: 'mse' (Johnson et al. 2016, the mean squared feature
            difference), 'rms', 'printed' (Eq. 12 as printed, which does not move G at the paper's weights) or 'l1'
            (BasicSR PerceptualLoss's criterion l1, Real-ESRGAN's); see ``content_distance``. Default: 'mse'.
        style_distance (str): Eq. 14's distance: 'rms', 'mse' or 'printed' (with gram_norm 'none': Eq. 14 as
            printed); see ``style_distance``. Default: 'rms'.
        gram_norm (str): Gram matrix normalisation: 'none' (Eq. 13 as printed), 'hw' or 'chw'. Default: 'hw'.
        reduction (str): Over the batch: 'mean', 'sum' or 'none' (per-image losses). Default: 'mean'.
    """

    def __init__(self, layer_weights=None, content_weight=0.8, style_weight=0.2, vgg_type='vgg19',
                 use_input_norm=True, range_norm=True, pretrained=True, pretrained_path=None, content_distance='mse',
                 style_distance='rms', gram_norm='hw', reduction='mean'):
        super().__init__()
        if layer_weights is None:
            layer_weights = {'relu1_2': 1, 'relu2_2': 1, 'relu3_3': 1, 'relu4_1': 1}
        for key, value in (('content_distance', content_distance), ('style_distance', style_distance)):
            if value not in DISTANCES:
                raise ValueError(f'{key} {value!r} is not supported; expected one of {DISTANCES}.')
        if gram_norm not in GRAM_NORMS:
            raise ValueError(f'gram_norm {gram_norm!r} is not supported; expected one of {GRAM_NORMS}.')
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction {reduction!r} is not supported; expected one of {REDUCTIONS}.')
        if vgg_type not in VGG_WEIGHT_FILES:
            raise ValueError(f'vgg_type {vgg_type!r} is not supported; expected one of {sorted(VGG_WEIGHT_FILES)}.')
        if pretrained:
            weights_path = locate_torchvision_weights(VGG_WEIGHT_FILES[vgg_type], pretrained_path, 'ContentStyleLoss')
        else:
            weights_path = None
            get_root_logger().warning('ContentStyleLoss: pretrained is false, the VGG weights are random; '
                                      'this is meant for tests only.')
        self.layer_weights = dict(layer_weights)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.content_distance = content_distance
        self.style_distance = style_distance
        self.gram_norm = gram_norm
        self.reduction = reduction
        self.vgg = VGGFeatures(list(self.layer_weights), vgg_type, use_input_norm, range_norm, weights_path)

    def train(self, mode=True):
        """Keep the VGG in eval mode whatever the caller asks."""
        return super().train(False)

    def _reduce(self, loss):
        if self.reduction == 'mean':
            return loss.mean()
        return loss.sum() if self.reduction == 'sum' else loss

    def _weighted_sum(self, distance, features, target_features):
        total = sum(weight * distance(features[name], target_features[name])
                    for name, weight in self.layer_weights.items())
        return self._reduce(total)

    def forward(self, pred, target):
        """Content and style losses of ``pred`` against ``target``.

        Args:
            pred (Tensor): Predicted images, shape (B, 3, H, W), in [-1, 1] with range_norm else [0, 1].
            target (Tensor): Target images, same shape and range; no gradient flows into it.

        Returns:
            tuple[Tensor | None, Tensor | None]: content_weight · content loss and style_weight · style loss;
            None where the weight is 0.
        """
        features = self.vgg(pred)
        with torch.no_grad():
            target_features = self.vgg(target.detach())
        l_content = l_style = None
        if self.content_weight > 0:
            content = partial(content_distance, distance=self.content_distance)
            l_content = self.content_weight * self._weighted_sum(content, features, target_features)
        if self.style_weight > 0:
            style = partial(style_distance, gram_norm=self.gram_norm, distance=self.style_distance)
            l_style = self.style_weight * self._weighted_sum(style, features, target_features)
        return l_content, l_style
