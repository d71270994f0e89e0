import math

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn import functional as F

from .layers import SKIP_SCALE, TimeEmbedding, avg_pool_2x


class DownBlock(nn.Module):
    """DDGAN discriminator residual block: conv, time embedding added, conv, optional 2x2 average-pool downsampling.

    Args:
        in_ch (int): Input channels.
        out_ch (int): Output channels.
        t_emb_dim (int): Size of the time embedding.
        downsample (bool): Halve the resolution.
    """

    def __init__(self, in_ch, out_ch, t_emb_dim, downsample):
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.t_proj = nn.Linear(t_emb_dim, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x, t_emb):
        h = self.conv1(self.act(x)) + self.t_proj(t_emb)[:, :, None, None]
        h = self.act(h)
        if self.downsample:
            h, x = avg_pool_2x(h), avg_pool_2x(x)
        return (self.conv2(h) + self.skip(x)) * SKIP_SCALE


def minibatch_stddev(x, group_size=4):
    """Append the standard deviation over groups of samples as one extra channel (StyleGAN2).

    The group is the largest divisor of the batch size not above ``group_size``. Real and fake batches must be
    scored in separate calls, or the statistic leaks between them.

    The variance and its square root are computed in float32: in float16 the 1e-8 added before the root rounds to 0,
    and where a group's variance is 0 (a group of one sample) the root's gradient is inf, then NaN.

    Args:
        x (Tensor): Features (B, C, H, W).
        group_size (int): Largest number of samples per group. Default: 4.

    Returns:
        Tensor: (B, C + 1, H, W), of the type of ``x``.
    """
    b, c, h, w = x.shape
    group = max(g for g in range(1, min(b, group_size) + 1) if b % g == 0)
    std = x.float().reshape(group, -1, c, h, w).var(dim=0, unbiased=False).add(1e-8).sqrt()
    std = std.mean(dim=(1, 2, 3)).to(x.dtype).reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, std], dim=1)


@ARCH_REGISTRY.register()
class SRDDGANDiscriminator(nn.Module):
    """Time-conditioned discriminator D(y_{t-1}, y_t, t) of SRDDGAN (DDGAN's ResNet discriminator).

    y_{t-1} and y_t (and, with ``lr_cond``, the bicubic-upsampled LR image) are concatenated on channels, mapped by
    a 1x1 conv to 2 * num_feat channels, passed through log2(image_size / 4) downsampling residual blocks (channels
    doubling up to 8 * num_feat) with the time embedding added, then minibatch-stddev, a 3x3 conv, a global sum and a
    linear head. Up to 32 px an extra block runs first at full resolution (DDGAN's small CIFAR-10 discriminator:
    32 px -> 1 + 3 blocks); larger sizes start downsampling at once, one block per halving down to 4x4 (128 px -> 5
    blocks; DDGAN's large discriminator instead always has 6 downsampling blocks, sized for 256 px). Other HR sizes
    work at test time (the sum is global).

    Args:
        in_channels (int): Channels of each image. Default: 3.
        num_feat (int): Base channels. Default: 64.
        image_size (int): HR training size (a power of two, at least 8) that sets the depth. Default: 128.
        t_emb_dim (int): Size of the time embedding. Default: 128.
        lr_cond (bool): Also condition on the bicubic-upsampled LR image. Default: False.
        scale (int): Upscaling factor (for ``lr_cond``). Default: 4.
    """

    def __init__(self, in_channels=3, num_feat=64, image_size=128, t_emb_dim=128, lr_cond=False, scale=4):
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f'SRDDGANDiscriminator: image_size must be a power of two >= 8, got {image_size}.')
        self.lr_cond, self.scale = lr_cond, scale
        self.act = nn.LeakyReLU(0.2)
        self.t_embed = TimeEmbedding(t_emb_dim, t_emb_dim, self.act)
        self.conv_in = nn.Conv2d(in_channels * (3 if lr_cond else 2), 2 * num_feat, 1)
        ch = 2 * num_feat
        blocks = [DownBlock(ch, ch, t_emb_dim, downsample=False)] if image_size <= 32 else []
        for _ in range(int(math.log2(image_size // 4))):
            blocks.append(DownBlock(ch, min(2 * ch, 8 * num_feat), t_emb_dim, downsample=True))
            ch = min(2 * ch, 8 * num_feat)
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Conv2d(ch + 1, ch, 3, 1, 1)
        self.linear = nn.Linear(ch, 1)

    def forward(self, y_prev, y_t, t, lq=None):
        """Score whether y_{t-1} is a denoised version of y_t.

        Args:
            y_prev (Tensor): y_{t-1} (B, in_channels, H, W) in [-1, 1] (real or generated).
            y_t (Tensor): y_t, shaped like y_prev.
            t (Tensor): LongTensor (B,) of steps in 1..T.
            lq (Tensor | None): LR images (B, in_channels, H / scale, W / scale); required with ``lr_cond``.
                Default: None.

        Returns:
            Tensor: Logits (B,).
        """
        x = torch.cat([y_prev, y_t], dim=1)
        if self.lr_cond:
            if lq is None:
                raise ValueError('SRDDGANDiscriminator was built with lr_cond=True: pass lq.')
            x = torch.cat([x, F.interpolate(lq, size=y_t.shape[-2:], mode='bicubic', align_corners=False)], dim=1)
        t_emb = self.act(self.t_embed(t))
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, t_emb)
        h = self.act(self.conv_out(minibatch_stddev(h)))
        return self.linear(h.sum(dim=(2, 3))).squeeze(1)
