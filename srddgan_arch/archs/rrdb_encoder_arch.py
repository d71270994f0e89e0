import torch
from basicsr.archs.arch_util import make_layer
from basicsr.archs.rrdbnet_arch import RRDB
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from srddgan_arch.utils.checkpoint import load_checkpoint

# the RRDBNet parameters the encoder keeps (same names, so RRDBNet checkpoints load directly)
_ENCODER_PREFIXES = ('conv_first.', 'body.', 'conv_body.')


@ARCH_REGISTRY.register()
class RRDBEncoder(nn.Module):
    """LR encoder of SRDDGAN: ESRGAN's RRDB trunk without upsampling and final convs, without BN.

    As in SRDiff, the hidden states are the outputs of the RRDB blocks followed by the trunk output (first conv +
    body conv, as in RRDBNet); every third one of them, concatenated on channels at LR resolution, is returned:
    ``num_feat * ((num_block + 1) // 3)`` channels (attribute ``out_channels``). Parameter names follow
    BasicSR's ``RRDBNet`` (``conv_first``, ``body``, ``conv_body``), so its x4 checkpoints load directly; like
    RRDBNet it takes images in [0, 1].

    Args:
        in_channels (int): Channels of the LR image. Default: 3.
        num_feat (int): Channels of the trunk. Default: 64.
        num_block (int): RRDB blocks in the trunk, at least 2. Default: 8.
        num_grow_ch (int): Growth channels of the dense blocks. Default: 32.
        pretrained_path (str | None): BasicSR RRDBNet checkpoint loaded at construction. Default: None.
        param_key (str): Key of the state dict in that checkpoint (``params`` or ``params_ema``). Default: 'params'.
    """

    def __init__(self, in_channels=3, num_feat=64, num_block=8, num_grow_ch=32, pretrained_path=None,
                 param_key='params'):
        super().__init__()
        if num_block < 2:
            raise ValueError(f'RRDBEncoder needs num_block >= 2 (features of every third block), got {num_block}.')
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.body = make_layer(RRDB, num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.out_channels = num_feat * ((num_block + 1) // 3)
        if pretrained_path is not None:
            self.load_rrdbnet(pretrained_path, param_key)

    def forward(self, lq):
        """Encode LR images (B, in_channels, h, w) in [0, 1] into features (B, out_channels, h, w)."""
        feat = self.conv_first(lq)
        trunk, hidden = feat, []
        for block in self.body:
            trunk = block(trunk)
            hidden.append(trunk)
        hidden.append(feat + self.conv_body(trunk))
        return torch.cat(hidden[2::3], dim=1)

    def load_rrdbnet(self, path, param_key='params'):
        """Load the trunk of a BasicSR ``RRDBNet`` checkpoint (its upsampling and last convs are ignored).

        Args:
            path (str): Checkpoint file saved by BasicSR (a dict holding ``param_key``) or a bare state dict.
            param_key (str | None): Key of the state dict: ``params`` or ``params_ema``; None for a bare state dict.
                Default: 'params'.
        """
        checkpoint = load_checkpoint(path, what='RRDBNet checkpoint (encoder_pretrained_path)')
        if param_key is not None:
            if param_key not in checkpoint:
                raise KeyError(f'{path} has no {param_key!r} entry; its keys are {sorted(checkpoint)}. '
                               "Use param_key 'params', 'params_ema' or None for a bare state dict.")
            checkpoint = checkpoint[param_key]
        state = {k.removeprefix('module.'): v for k, v in checkpoint.items()}
        state = {k: v for k, v in state.items() if k.startswith(_ENCODER_PREFIXES)}
        own = self.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f'{path} does not match the encoder ({len(self.body)} RRDB blocks): missing keys '
                           f'{missing[:3]}, unexpected keys {unexpected[:3]} (check num_block).')
        for key, value in state.items():
            if value.shape != own[key].shape:
                raise ValueError(f'{path}: {key} has shape {tuple(value.shape)}, the encoder expects '
                                 f'{tuple(own[key].shape)} (check num_feat / num_grow_ch / in_channels; a scale-2 '
                                 'RRDBNet takes pixel-unshuffled input and does not fit).')
        self.load_state_dict(state)
