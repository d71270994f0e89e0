"""Frozen torchvision VGG feature extractor for the content and style losses, loaded from a given weight file.

BasicSR's ``VGGFeatureExtractor`` downloads its weights at construction (offline it raises URLError) and reads
``experiments/pretrained_models/vgg19-dcbb9e9d.pth`` relative to the working directory; this one loads the file it
is given (``ContentStyleLoss`` finds it in torchvision's cache with ``locate_torchvision_weights``).
"""
import torch
from basicsr.archs.vgg_arch import NAMES
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from srddgan_arch.utils.checkpoint import load_checkpoint

# torchvision's file names for the ImageNet weights (the names its downloader caches them under)
VGG_WEIGHT_FILES = {'vgg16': 'vgg16-397923af.pth', 'vgg19': 'vgg19-dcbb9e9d.pth'}
# torchvision's layer configurations: make_layers(cfgs[...]) with ``init_like_torchvision`` is
# ``vgg*(weights=None).features`` without building the 120M-parameter classifier
VGG_CFGS = {'vgg16': 'D', 'vgg19': 'E'}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def torchvision_features_key(key):
    """torchvision's key of a tensor of a ``features`` stack: '2.weight' -> 'features.2.weight'."""
    return f'features.{key}'


def load_features_state(module, path, source_key=torchvision_features_key):
    """Load the tensors of ``module`` from a torchvision state dict file.

    Args:
        module (nn.Module): Network to fill.
        path (str): torchvision state dict file.
        source_key (callable): Maps a key of ``module`` to the file's key. Default: ``torchvision_features_key``.

    Raises:
        KeyError: The file lacks some of the tensors ``module`` needs.
    """
    state = load_checkpoint(path)
    keys = module.state_dict().keys()
    missing = [source_key(key) for key in keys if source_key(key) not in state]
    if missing:
        raise KeyError(f'{path} lacks {len(missing)} tensors, e.g. {missing[:3]}: expected a torchvision state dict '
                       f'with keys like features.0.weight.')
    module.load_state_dict({key: state[source_key(key)] for key in keys})


def init_like_torchvision(features):
    """torchvision's VGG initialisation of a ``features`` stack: Kaiming-normal convolutions (fan_out), zero biases.

    Random features then keep their scale through the layers, where PyTorch's default initialisation shrinks them
    layer after layer (relu4_1 about 25 times smaller).
    """
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode='fan_out', nonlinearity='relu')
            nn.init.zeros_(layer.bias)


class VGGFeatures(nn.Module):
    """VGG ``features`` truncated after the last requested layer; frozen, in eval mode, no gradients for its weights.

    Args:
        layer_names (list[str]): Layers whose outputs are returned, e.g. ['relu1_2', 'relu4_1'].
        vgg_type (str): 'vgg19' or 'vgg16'. Default: 'vgg19'.
        use_input_norm (bool): Normalise [0, 1] inputs with the ImageNet mean and std. Default: True.
        range_norm (bool): Inputs are in [-1, 1]; map them to [0, 1] first. Default: False.
        weights_path (str | None): torchvision state dict to load; None: random weights, initialised as torchvision's
            ``vgg*(weights=None)``. Default: None.
    """

    def __init__(self, layer_names, vgg_type='vgg19', use_input_norm=True, range_norm=False, weights_path=None):
        super().__init__()
        if vgg_type not in VGG_WEIGHT_FILES:
            raise ValueError(f'vgg_type {vgg_type!r} is not supported; expected one of {sorted(VGG_WEIGHT_FILES)}.')
        valid = NAMES[vgg_type]
        unknown = [name for name in layer_names if name not in valid]
        if unknown or not layer_names:
            raise ValueError(f'Unknown {vgg_type} layer names {unknown or layer_names}; valid names: {valid}.')
        self.index_to_name = {valid.index(name): name for name in layer_names}
        features = make_layers(cfgs[VGG_CFGS[vgg_type]])[:max(self.index_to_name) + 1]
        self.body = nn.Sequential(*[nn.ReLU() if isinstance(layer, nn.ReLU) else layer for layer in features])
        if weights_path is not None:
            load_features_state(self.body, weights_path)
        else:
            init_like_torchvision(self.body)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        """Features of ``x`` (B, 3, H, W) at every requested layer, as a dict name -> (B, C, h, w)."""
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        features = {}
        for index, layer in enumerate(self.body):
            x = layer(x)
            if index in self.index_to_name:
                features[self.index_to_name[index]] = x
        return features
