"""Building blocks shared by the SRDDGAN generator and discriminator (not registered: no ``_arch`` suffix)."""
import math

import torch
from torch import nn
from torch.nn import functional as F

# residual and skip branches are summed and scaled by 1/sqrt(2) (NCSN++'s skip_rescale)
SKIP_SCALE = 1 / math.sqrt(2)


def timestep_embedding(t, dim, max_period=10000):
    """Sinusoidal embedding of integer time steps (DDPM / Transformer positional encoding).

    Args:
        t (Tensor): LongTensor (B,) of time steps.
        dim (int): Embedding size.
        max_period (int): Longest wavelength. Default: 10000.

    Returns:
        Tensor: (B, dim) embedding, sin in the first half and cos in the second (zero-padded for odd dim).
    """
    half = dim // 2
    exponents = torch.arange(half, dtype=torch.float32, device=t.device) / max(half - 1, 1)
    freqs = torch.exp(-math.log(max_period) * exponents)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([args.sin(), args.cos()], dim=1)
    return F.pad(emb, (0, dim % 2))


def num_groups(channels):
    """GroupNorm group count: NCSN++'s min(channels // 4, 32), lowered to the nearest divisor of ``channels``."""
    groups = max(min(channels // 4, 32), 1)
    while channels % groups:
        groups -= 1
    return groups


class TimeEmbedding(nn.Module):
    """Sinusoidal time embedding followed by a two-layer MLP (no activation after the last layer).

    Args:
        sin_dim (int): Size of the sinusoidal embedding.
        emb_dim (int): Size of the output embedding.
        act (nn.Module): Activation between the two dense layers.
    """

    def __init__(self, sin_dim, emb_dim, act):
        super().__init__()
        self.sin_dim = sin_dim
        self.mlp = nn.Sequential(nn.Linear(sin_dim, emb_dim), act, nn.Linear(emb_dim, emb_dim))

    def forward(self, t):
        return self.mlp(timestep_embedding(t, self.sin_dim))


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit root mean square (StyleGAN's mapping-network input)."""

    def forward(self, z):
        return z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class AdaptiveGroupNorm(nn.Module):
    """GroupNorm whose scale and shift are predicted from the z embedding (DDGAN's adaptive GroupNorm).

    The dense layer's bias starts at scale 1, shift 0, so the layer is a plain GroupNorm plus a small z-dependent
    modulation at initialisation.

    Args:
        channels (int): Feature channels.
        z_emb_dim (int): Size of the z embedding.
    """

    def __init__(self, channels, z_emb_dim):
        super().__init__()
        self.norm = nn.GroupNorm(num_groups(channels), channels, affine=False, eps=1e-6)
        self.style = nn.Linear(z_emb_dim, 2 * channels)
        with torch.no_grad():
            self.style.bias[:channels] = 1
            self.style.bias[channels:] = 0

    def forward(self, x, z_emb, silu=False):
        """gamma(z) * GroupNorm(x) + beta(z), then SiLU when ``silu``.

        Args:
            x (Tensor): Features (B, channels, H, W).
            z_emb (Tensor): z embeddings (B, z_emb_dim).
            silu (bool): Apply SiLU to the result (in place: no extra tensor). Default: False.

        Returns:
            Tensor: The modulated features, shaped like x.
        """
        gamma, beta = self.style(z_emb).chunk(2, dim=1)
        if x.shape[0] == 1:
            # one sample: its scale and shift are GroupNorm's affine weights, applied in the normalising pass
            out = F.group_norm(x, self.norm.num_groups, gamma[0], beta[0], self.norm.eps)
        else:
            out = torch.addcmul(beta[:, :, None, None], self.norm(x), gamma[:, :, None, None])
        return F.silu(out, inplace=True) if silu else out


class AttentionBlock(nn.Module):
    """Single-head self-attention over all positions through ``scaled_dot_product_attention``, residual 1/sqrt(2).

    Args:
        channels (int): Feature channels.
    """

    def __init__(self, channels):
        super().__init__()
        self.norm = nn.GroupNorm(num_groups(channels), channels, eps=1e-6)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(2, 3).unbind(dim=1)
        out = F.scaled_dot_product_attention(q, k, v)
        return (x + self.proj(out.transpose(1, 2).reshape(b, c, h, w))) * SKIP_SCALE
