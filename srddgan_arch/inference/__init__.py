"""Inference on any photo: the ``SRDDGANer`` upsampler (``upsampler``), seamless tiles (``tiling``), face mode
(``faces``) and what the ``srddgan-infer`` command (``srddgan_arch.commands.infer``) and the web app build on."""
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.upsampler import SRDDGANer, build_upsampler

__all__ = ['SRDDGANer', 'build_network', 'build_upsampler']
