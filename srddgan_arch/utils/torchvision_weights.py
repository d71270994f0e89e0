"""torchvision's ImageNet weight files that srddgan's losses and metrics load (VGG, the LPIPS backbones): their
names, their address, and finding them (torchvision's cache, filled on first use, or a given path)."""
from srddgan_arch.utils.checkpoint import locate_weights

# where torchvision downloads its weight files from (a file name completes the address)
TORCHVISION_WEIGHTS_URL = 'https://download.pytorch.org/models/{}'
# torchvision's backbone files for the nets of the lpips package
LPIPS_BACKBONE_FILES = {
    'alex': 'alexnet-owt-7be5be79.pth',
    'vgg': 'vgg16-397923af.pth',
    'squeeze': 'squeezenet1_1-b8a52dc0.pth',
}


def locate_torchvision_weights(file_name, path=None, what='weights', option='pretrained_path'):
    """A torchvision weight file: ``path`` when given, else torchvision's cache file, downloaded there when missing
    (see ``locate_weights``).

    Args:
        file_name (str): torchvision's file name, e.g. ``vgg19-dcbb9e9d.pth``.
        path (str | None): Explicit path; never downloaded. Default: None.
        what (str): What needs the file, for the error message. Default: 'weights'.
        option (str): The key that gives ``path``, for the error message. Default: 'pretrained_path'.

    Returns:
        str: An existing file.
    """
    return locate_weights(file_name, path, what=what, url=TORCHVISION_WEIGHTS_URL.format(file_name), option=option)


def locate_backbone(net, backbone_path=None):
    """The backbone file of an LPIPS net (the ``net`` and ``backbone_path`` arguments of the LPIPS metrics).

    Args:
        net (str): 'alex', 'vgg' or 'squeeze'.
        backbone_path (str | None): Explicit path. Default: None (torchvision's cache).

    Returns:
        str: An existing file.
    """
    if net not in LPIPS_BACKBONE_FILES:
        raise ValueError(f'LPIPS net {net!r} is not supported; expected one of {sorted(LPIPS_BACKBONE_FILES)}.')
    return locate_torchvision_weights(LPIPS_BACKBONE_FILES[net], backbone_path, what=f'LPIPS ({net} backbone)',
                                      option='backbone_path')
