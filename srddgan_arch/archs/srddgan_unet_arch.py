import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn import functional as F

from .attention import AttentionBlock
from .layers import (
    SKIP_SCALE,
    AdaptiveGroupNorm,
    PixelNorm,
    TimeEmbedding,
    ZEmbedding,
    avg_pool_2x,
    num_groups,
    upsampled_conv3x3,
)
from .rrdb_encoder_arch import RRDBEncoder


class ResBlock(nn.Module):
    """BigGAN-style residual block with resampling inside, time embedding and z-adaptive GroupNorm (NCSN++/DDGAN).

    Args:
        in_ch (int): Input channels.
        out_ch (int): Output channels.
        t_emb_dim (int): Size of the time embedding.
        z_emb_dim (int): Size of the z embedding.
        dropout (float): Dropout before the second conv.
        resample (str | None): 'down' (2x2 average pooling), 'up' (nearest x2) or None.
    """

    def __init__(self, in_ch, out_ch, t_emb_dim, z_emb_dim, dropout, resample=None):
        super().__init__()
        self.resample = resample
        self.norm1 = AdaptiveGroupNorm(in_ch, z_emb_dim)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.t_proj = nn.Linear(t_emb_dim, out_ch)
        self.norm2 = AdaptiveGroupNorm(out_ch, z_emb_dim)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch or resample else nn.Identity()
        self.act = nn.SiLU()

    def _resample(self, x):
        if self.resample == 'down':
            return avg_pool_2x(x)
        if self.resample == 'up':
            return F.interpolate(x, scale_factor=2, mode='nearest')
        return x

    def _conv1_with_time(self, h, t_emb):
        """conv1 of the resampled h plus the projected time embedding; for one sample the projection joins conv1's
        bias. Going up, the upsampling happens inside the convolution (``upsampled_conv3x3``)."""
        time_bias = self.t_proj(self.act(t_emb))
        one_sample = h.shape[0] == 1
        bias = self.conv1.bias + time_bias[0] if one_sample else self.conv1.bias
        if self.resample == 'up':
            out = upsampled_conv3x3(h, self.conv1.weight, bias)
        else:
            out = F.conv2d(self._resample(h), self.conv1.weight, bias, padding=self.conv1.padding)
        return out if one_sample else out.add_(time_bias[:, :, None, None])

    def _skip(self, x):
        """The skip branch at the output size: a 1x1 conv commutes with resampling, so it runs on the smaller map."""
        if self.resample == 'up':
            return self._resample(self.skip(x))
        return self.skip(self._resample(x))

    def forward(self, x, t_emb, z_emb):
        # SiLU, the time embedding and the skip sum act in place on fresh tensors: fewer passes over memory
        h = self._conv1_with_time(self.norm1(x, z_emb, silu=True), t_emb)
        h = self.conv2(self.dropout(self.norm2(h, z_emb, silu=True)))
        return h.add_(self._skip(x)).mul_(SKIP_SCALE)


def _check_arguments(scale, image_size, divisor, ch_mult, num_mapping_layers, residual, in_channels, out_channels):
    """SRDDGANUNet's arguments that cannot build a working network, each one ValueError naming it."""
    if scale < 2 or scale % 2:
        raise ValueError(f'SRDDGANUNet: scale must be an even integer (2, 4, 8), got {scale}.')
    if image_size % divisor:
        raise ValueError(f'SRDDGANUNet: image_size {image_size} is not divisible by 2 ** (len(ch_mult) - 1) = '
                         f'{divisor} (ch_mult={list(ch_mult)}).')
    if num_mapping_layers < 1:
        raise ValueError(f'SRDDGANUNet: num_mapping_layers must be >= 1, got {num_mapping_layers}.')
    if residual and in_channels != out_channels:
        raise ValueError(f'SRDDGANUNet: residual needs in_channels == out_channels, got {in_channels} and '
                         f'{out_channels}.')


@ARCH_REGISTRY.register()
class SRDDGANUNet(nn.Module):
    """SRDDGAN generator G(y_t, x, t, z): an NCSN++/DDGAN-style U-Net that predicts y0 (tanh output).

    Per level ``num_res_blocks`` BigGAN residual blocks going down (``num_res_blocks + 1`` going up, one per skip),
    then a residual block that halves (going down) or doubles (going up) the resolution; at the resolutions listed in
    ``attn_resolutions`` (for an ``image_size`` input; on larger inputs within windows of that size, see
    ``AttentionBlock``) self-attention after each residual block going down and once per level going up, after its
    blocks (NCSN++'s layout), and in the middle block; time embedding (sinusoidal + MLP) and z embedding (PixelNorm
    + mapping MLP) in every residual block, z through adaptive GroupNorm. LR conditioning: ``lr_concat`` concatenates
    the bicubic-upsampled LR with y_t (paper V1); ``lr_encoder`` adds RRDB-encoder features, brought to HR size by a
    transposed conv, after the first conv (paper V2). HR sizes must be divisible by 2 ** (len(ch_mult) - 1).

    Args:
        in_channels (int): Channels of y_t and of the LR image. Default: 3.
        out_channels (int): Channels of the predicted y0. Default: 3.
        scale (int): Upscaling factor, an even number (2, 4, 8). Default: 4.
        image_size (int): HR training size, used to place attention and size its windows. Default: 128.
        num_feat (int): Base channels. Default: 64.
        ch_mult (list[int]): Channel multiplier per level. Default: (1, 1, 2, 2, 4, 4).
        num_res_blocks (int): Residual blocks per level. Default: 2.
        attn_resolutions (list[int]): Feature resolutions with self-attention. Default: (16,).
        dropout (float): Dropout in the residual blocks. Default: 0.
        z_dim (int): Size of the latent z. Default: 256.
        z_emb_dim (int | None): Size of the z embedding; None for z_dim. Default: None.
        num_mapping_layers (int): Dense layers of the z mapping network. Default: 4.
        t_emb_dim (int | None): Size of the time embedding; None for 4 * num_feat. Default: None.
        lr_concat (bool): Concatenate the bicubic-upsampled LR with y_t. Default: True.
        lr_encoder (bool): Add RRDB-encoder features at the first level. Default: True.
        encoder_num_feat (int): Channels of the RRDB encoder (SRDiff's size). Default: 32.
        encoder_num_block (int): RRDB blocks of the encoder. Default: 8.
        encoder_num_grow_ch (int): Growth channels of the encoder. Default: 16.
        encoder_pretrained_path (str | None): BasicSR RRDBNet checkpoint loaded into the encoder (which gets the LR
            in [0, 1], as RRDBNet). Default: None.
        encoder_param_key (str): Key of that checkpoint's state dict ('params' or 'params_ema'). Default: 'params'.
        freeze_encoder (bool): Exclude the encoder from training (requires_grad False). Default: False.
        residual (bool): Predict y0 as the bicubic-upsampled LR plus a correction, with no tanh and the output conv
            initialised to zero, so that the untrained network returns the bicubic image. The base is PyTorch's
            bicubic interpolation (a = -0.75, the ``lq_up`` G is conditioned on), not the MATLAB bicubic (a = -0.5)
            of the ``bicubic`` reference. Only G's output takes SRDiff's residual form: the diffusion stays on the HR
            image (SRDiff diffuses the residual). Default: False (tanh of the network output, the paper's direct y0).
    """

    def __init__(self, in_channels=3, out_channels=3, scale=4, image_size=128, num_feat=64, ch_mult=(1, 1, 2, 2, 4, 4),
                 num_res_blocks=2, attn_resolutions=(16, ), dropout=0.0, z_dim=256, z_emb_dim=None,
                 num_mapping_layers=4, t_emb_dim=None, lr_concat=True, lr_encoder=True, encoder_num_feat=32,
                 encoder_num_block=8, encoder_num_grow_ch=16, encoder_pretrained_path=None,
                 encoder_param_key='params', freeze_encoder=False, residual=False):
        super().__init__()
        self.divisor = 2**(len(ch_mult) - 1)
        _check_arguments(scale, image_size, self.divisor, ch_mult, num_mapping_layers, residual, in_channels,
                         out_channels)
        self.out_channels, self.scale, self.z_dim, self.lr_concat = out_channels, scale, z_dim, lr_concat
        self.residual = residual
        t_emb_dim = t_emb_dim or 4 * num_feat
        z_emb_dim = z_emb_dim or z_dim
        self.act = nn.SiLU()
        self.t_embed = TimeEmbedding(num_feat, t_emb_dim, self.act)
        mapping = [PixelNorm()]
        for i in range(num_mapping_layers):
            mapping += [nn.Linear(z_dim if i == 0 else z_emb_dim, z_emb_dim), nn.SiLU()]
        self.z_mapping = nn.Sequential(*mapping)

        self.conv_in = nn.Conv2d(in_channels * (2 if lr_concat else 1), num_feat, 3, 1, 1)
        self.encoder = self.lr_proj = None
        if lr_encoder:
            self.encoder = RRDBEncoder(in_channels, encoder_num_feat, encoder_num_block, encoder_num_grow_ch,
                                       encoder_pretrained_path, encoder_param_key)
            self.encoder.requires_grad_(not freeze_encoder)
            self.lr_proj = nn.ConvTranspose2d(self.encoder.out_channels, num_feat, 2 * scale, scale, scale // 2)

        def block(cin, cout, resample=None):
            return ResBlock(cin, cout, t_emb_dim, z_emb_dim, dropout, resample)

        ch = self._build_levels(block, num_feat, ch_mult, num_res_blocks, attn_resolutions, image_size)
        self.norm_out = nn.GroupNorm(num_groups(ch), ch, eps=1e-6)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, 1, 1)
        if residual:
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

    def _build_levels(self, block, num_feat, ch_mult, num_res_blocks, attn_resolutions, image_size):
        """The down path, the middle block and the up path (NCSN++'s layout, see the class docstring); returns the
        channels of the last up block."""
        # down path: remember every block's output channels for the skip connections
        self.down = nn.ModuleList()
        skip_channels, ch, res = [num_feat], num_feat, image_size
        for level, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                self.down.append(block(ch, num_feat * mult))
                ch = num_feat * mult
                if res in attn_resolutions:
                    self.down.append(AttentionBlock(ch, window=res))
                skip_channels.append(ch)
            if level != len(ch_mult) - 1:
                self.down.append(block(ch, ch, 'down'))
                skip_channels.append(ch)
                res //= 2
        self.mid = nn.ModuleList([block(ch, ch), AttentionBlock(ch, window=res), block(ch, ch)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                self.up.append(block(ch + skip_channels.pop(), num_feat * mult))
                ch = num_feat * mult
            if res in attn_resolutions:  # once per level, after its blocks, as NCSN++ does going up
                self.up.append(AttentionBlock(ch, window=res))
            if level != 0:
                self.up.append(block(ch, ch, 'up'))
                res *= 2
        return ch

    def encode_lr(self, lq):
        """LR-encoder features brought to HR size (B, num_feat, H, W), or None without encoder.

        They depend on the LR image only: the sampler computes them once per image and passes them to every step.
        The encoder sees the LR in [0, 1], the range BasicSR's RRDBNet is trained on, so that a checkpoint loaded
        with ``encoder_pretrained_path`` (possibly frozen) computes the features it was trained to compute.

        Args:
            lq (Tensor): LR images (B, in_channels, h, w) in [-1, 1].

        Returns:
            Tensor | None: Features added after the first conv.
        """
        if self.encoder is None:
            return None
        return self.lr_proj(self.encoder((lq + 1) / 2))

    def embed_z(self, z):
        """The z embedding as a ``ZEmbedding``: passed as ``z`` to every step of a sample, it computes the mapping
        network and the per-layer styles once.

        Args:
            z (Tensor): Latent codes (B, z_dim).

        Returns:
            ZEmbedding: Their embedding.
        """
        return ZEmbedding(self.z_mapping(z), (m for m in self.modules() if isinstance(m, AdaptiveGroupNorm)))

    def forward(self, y_t, lq, t, z, lr_feats=None):
        """Predict y0 from the noisy image.

        Args:
            y_t (Tensor): Noisy HR images (B, in_channels, H, W) in [-1, 1]; H, W divisible by 2 ** (levels - 1).
            lq (Tensor): LR images (B, in_channels, H / scale, W / scale) in [-1, 1].
            t (Tensor): LongTensor (B,) of steps in 1..T.
            z (Tensor | ZEmbedding): Latent codes (B, z_dim), or ``embed_z(z)``.
            lr_feats (Tensor | None): Output of ``encode_lr(lq)``; computed here when None. Default: None.

        Returns:
            Tensor: Predicted y0 (B, out_channels, H, W) in [-1, 1].
        """
        height, width = y_t.shape[-2:]
        if height % self.divisor or width % self.divisor:
            raise ValueError(f'SRDDGANUNet: HR size {height}x{width} is not divisible by {self.divisor}.')
        t_emb, z_emb = self.t_embed(t), z if isinstance(z, ZEmbedding) else self.embed_z(z)
        lq_up = F.interpolate(lq, size=(height, width), mode='bicubic', align_corners=False)
        h = self.conv_in(torch.cat([y_t, lq_up], dim=1) if self.lr_concat else y_t)
        if self.encoder is not None:
            h = h + (self.encode_lr(lq) if lr_feats is None else lr_feats)

        skips = [h]
        for layer in self.down:
            if isinstance(layer, AttentionBlock):
                h = skips[-1] = layer(h)
            else:
                h = layer(h, t_emb, z_emb)
                skips.append(h)
        for layer in self.mid:
            h = layer(h) if isinstance(layer, AttentionBlock) else layer(h, t_emb, z_emb)
        for layer in self.up:
            if isinstance(layer, AttentionBlock):
                h = layer(h)
            elif layer.resample == 'up':
                h = layer(h, t_emb, z_emb)
            else:
                h = layer(torch.cat([h, skips.pop()], dim=1), t_emb, z_emb)
        out = self.conv_out(F.silu(self.norm_out(h), inplace=True))
        return lq_up + out if self.residual else torch.tanh(out)
