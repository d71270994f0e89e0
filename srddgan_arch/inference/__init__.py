"""Inference on any photo: the ``SRDDGANer`` upsampler (``upsampler``), seamless tiles (``tiling``), face mode
(``faces``), content fusion (``fusion``) and the ``srddgan-infer`` command (``cli``)."""
from srddgan_arch.inference.cli import main
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.upsampler import SRDDGANer, build_upsampler

__all__ = ['SRDDGANer', 'build_network', 'build_upsampler', 'main']
