"""LPIPS (Zhang et al. 2018, v0.1) with its torchvision backbone from ``backbone_path`` or torchvision's cache.

The ``lpips`` package ships its linear heads and builds the ImageNet backbone through torchvision. Here the backbone
file comes from ``backbone_path`` or torchvision's cache, downloaded there when missing as torchvision does; a file
that is neither there nor downloadable is an error: LPIPS on a random backbone is meaningless.
"""
import warnings

import lpips
import numpy as np
import torch
from basicsr.utils.registry import METRIC_REGISTRY

from srddgan_arch.device import default_device
from srddgan_arch.losses.vgg_features import load_features_state
from srddgan_arch.utils.torchvision_weights import locate_backbone

_LPIPS_NETS = {}


def lpips_trunk_key(key):
    """torchvision's key of a tensor of an lpips trunk: 'slice2.3.weight' -> 'features.3.weight'."""
    return f'features.{key.split(".", 1)[1]}'


def build_lpips(net='alex', spatial=False, backbone_path=None):
    """An LPIPS v0.1 network (CPU, eval mode) with the package's linear heads and the torchvision backbone from file.

    Args:
        net (str): Backbone: 'alex', 'vgg' or 'squeeze'. Default: 'alex'.
        spatial (bool): Return a per-pixel distance map instead of its spatial mean. Default: False.
        backbone_path (str | None): torchvision state dict of the backbone; None: torchvision's cache file
            (``alexnet-owt-7be5be79.pth`` for alex) under ``torch.hub.get_dir()/checkpoints``, downloaded there when
            missing. Default: None.

    Returns:
        lpips.LPIPS: The network.

    Raises:
        FileNotFoundError: The backbone file does not exist and cannot be downloaded (the message says where to put
            it).
    """
    weights_path = locate_backbone(net, backbone_path)
    # fork_rng: the random initialisation (replaced by the file's weights) must not shift the training run's random
    # stream when the first validation builds the network
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter('ignore')  # torchvision's deprecation notice for the lpips package's pretrained=False
        model = lpips.LPIPS(net=net, version='0.1', spatial=spatial, pnet_rand=True, verbose=False)
    load_features_state(model.net, weights_path, lpips_trunk_key)
    return model.eval().requires_grad_(False)


def get_lpips(net='alex', spatial=False, backbone_path=None, device='cpu'):
    """``build_lpips`` cached per (net, spatial, backbone file, device).

    Args:
        net (str): Backbone: 'alex', 'vgg' or 'squeeze'. Default: 'alex'.
        spatial (bool): Per-pixel distance map. Default: False.
        backbone_path (str | None): Backbone file, see ``build_lpips``. Default: None.
        device (str | torch.device): Device of the network. Default: 'cpu'.

    Returns:
        lpips.LPIPS: The network on ``device``.
    """
    weights_path = locate_backbone(net, backbone_path)
    key = (net, spatial, weights_path, str(device))
    if key not in _LPIPS_NETS:
        _LPIPS_NETS[key] = build_lpips(net, spatial, weights_path).to(device)
    return _LPIPS_NETS[key]


def uint8_to_lpips_tensor(img, device='cpu', bgr=True):
    """A uint8 (H, W, 3) image as a (1, 3, H, W) RGB float tensor in [-1, 1] (LPIPS' input range).

    Args:
        img (ndarray): uint8 image, (H, W, 3).
        device (str | torch.device): Device of the tensor. Default: 'cpu'.
        bgr (bool): ``img`` is BGR (BasicSR's ``tensor2img`` order) and is turned into RGB. Default: True.

    Returns:
        Tensor: Shape (1, 3, H, W).
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'LPIPS needs (H, W, 3) images, got shape {img.shape}.')
    if bgr:
        img = img[:, :, ::-1]
    tensor = torch.from_numpy(np.ascontiguousarray(img).transpose(2, 0, 1)).float().unsqueeze(0)
    return (tensor / 127.5 - 1).to(device)


@METRIC_REGISTRY.register()
def calculate_lpips(img, img2, net='alex', backbone_path=None, bgr=True, **kwargs):
    """LPIPS v0.1 distance between two uint8 images (lower is closer).

    Args:
        img (ndarray): uint8 image, (H, W, 3).
        img2 (ndarray): uint8 reference image, same shape and channel order.
        net (str): Backbone: 'alex', 'vgg' or 'squeeze'. Default: 'alex'.
        backbone_path (str | None): Backbone file, see ``build_lpips``. Default: None (torchvision's cache).
        bgr (bool): The images are BGR (BasicSR's order). Default: True.
        kwargs: Other metric data and options (e.g. ``lq``, ``crop_border``, ``better``), ignored.

    Returns:
        float: The LPIPS distance.
    """
    if img.shape != img2.shape:
        raise ValueError(f'LPIPS: image shapes differ: {img.shape} and {img2.shape}.')
    device = default_device()
    model = get_lpips(net, False, backbone_path, device)
    with torch.no_grad():
        distance = model(uint8_to_lpips_tensor(img, device, bgr), uint8_to_lpips_tensor(img2, device, bgr))
    return distance.item()
