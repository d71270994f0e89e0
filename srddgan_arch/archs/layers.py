"""Building blocks shared by the SRDDGAN generator and discriminator (not registered: no ``_arch`` suffix)."""
import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.weak import WeakIdKeyDictionary

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


def avg_pool_2x(x):
    """2x2 average pooling, ``F.avg_pool2d(x, 2)``.

    On the CPU a contiguous (NCHW) map is pooled by a depthwise convolution with weights 1/4: the same values, 2-5x
    faster forward and backward than avg_pool2d's NCHW kernel (a tenth of the demo's training iteration went there).
    Channels-last maps, autocast and other devices keep avg_pool2d (fast there; autocast would run the convolution in
    bf16).
    """
    if x.device.type != 'cpu' or torch.is_autocast_enabled('cpu') or not x.is_contiguous():
        return F.avg_pool2d(x, 2)
    channels = x.shape[1]
    return F.conv2d(x, x.new_full((channels, 1, 2, 2), 0.25), stride=2, groups=channels)


# batches with at least this many input positions (batch x height x width) take upsampled_conv3x3's transposed form,
# per device type. CPU: measured on 2 cores, 16-256 channels: 1.2-3x faster from 1 x 32 x 32 or 8 x 16 x 16,
# inference and training; a tie at 1 x 16 x 16; slower below. Other devices take the CPU's figure until measured:
# scripts/gpu_check.py's upconv part times both forms on CUDA (set an entry here to 0 or math.inf to force one)
UPSAMPLED_CONV_MIN_POSITIONS = {'cpu': 32 * 32}

# the folded kernel of each weight under no_grad, with the weight's version counter when folded: inference re-folds
# only when the weight changed (training folds on every call: the fold is part of the autograd graph)
_folded_kernels = WeakIdKeyDictionary()


def _fold_kernel(weight):
    """The 4x4 transposed-convolution kernel (C_in, C_out, 4, 4) of a 3x3 ``weight`` applied after 2x nearest
    upsampling: rows and columns (w2, w1 + w2, w0 + w1, w0)."""

    def fold(w, dim):
        w0, w1, w2 = w.unbind(dim)
        return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)

    return fold(fold(weight, 2), 3).transpose(0, 1)


def _folded_kernel(weight):
    """``_fold_kernel(weight)``, cached under no_grad while the weight is unchanged (its ``_version``)."""
    if torch.is_grad_enabled() or weight.is_inference() or torch.compiler.is_compiling():
        return _fold_kernel(weight)
    cached = _folded_kernels.get(weight)
    if cached is None or cached[0] != weight._version:
        cached = _folded_kernels[weight] = (weight._version, _fold_kernel(weight))
    return cached[1]


def upsampled_conv3x3(x, weight, bias=None):
    """``conv2d(nearest_upsample_2x(x), weight, bias, padding=1)`` for a 3x3 ``weight``, with 16 instead of 36
    multiply-adds per input position on large maps.

    On the 2x nearest-upsampled map every output pixel sees 2x2 input pixels, whose 3x3 taps sum by output phase: a
    transposed convolution (stride 2) with the 4x4 kernel whose rows and columns are (w2, w1 + w2, w0 + w1, w0) of the
    3x3 taps (folded once per weight under no_grad). Same values (to float rounding), same gradients; batches under
    ``UPSAMPLED_CONV_MIN_POSITIONS`` input positions (for x's device type) and graph export keep the plain form.

    Args:
        x (Tensor): Input (B, C_in, H, W).
        weight (Tensor): 3x3 convolution weight (C_out, C_in, 3, 3).
        bias (Tensor | None): Bias (C_out,). Default: None.

    Returns:
        Tensor: (B, C_out, 2H, 2W).
    """
    threshold = UPSAMPLED_CONV_MIN_POSITIONS.get(x.device.type, UPSAMPLED_CONV_MIN_POSITIONS['cpu'])
    if x.shape[0] * x.shape[-2] * x.shape[-1] < threshold or torch.compiler.is_exporting():
        return F.conv2d(F.interpolate(x, scale_factor=2, mode='nearest'), weight, bias, padding=1)
    return F.conv_transpose2d(x, _folded_kernel(weight), bias, stride=2, padding=1)


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


class ZEmbedding:
    """A batch's z embedding and the scale and shift of every ``AdaptiveGroupNorm`` of a network, computed once.

    z is fixed for the T steps of a sample: the sampler embeds it once (``SRDDGANUNet.embed_z``) and every step
    reuses the styles, whose layers hold a fifth of the paper generator's weights (8M parameters, 7 ms of reads per
    step on 2 CPU cores). All styles are computed here, before the first step, so that the steps never change the
    object they get (a compiled generator would otherwise see two kinds of step and compile twice).

    Args:
        z_emb (Tensor): z embeddings (B, z_emb_dim), the mapping network's output.
        norms (Iterable[AdaptiveGroupNorm]): The layers whose styles are computed.
    """

    def __init__(self, z_emb, norms):
        self.tensor = z_emb
        self._styles = {norm: norm.style(z_emb).chunk(2, dim=1) for norm in norms}

    def styles(self, norm):
        """(gamma, beta), each (B, channels), of the AdaptiveGroupNorm ``norm`` for this embedding."""
        return self._styles[norm]


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
            z_emb (Tensor | ZEmbedding): z embeddings (B, z_emb_dim), or their ``ZEmbedding`` (styles reused).
            silu (bool): Apply SiLU to the result (in place: no extra tensor). Default: False.

        Returns:
            Tensor: The modulated features, shaped like x.
        """
        gamma, beta = z_emb.styles(self) if isinstance(z_emb, ZEmbedding) else self.style(z_emb).chunk(2, dim=1)
        if torch.is_autocast_enabled(x.device.type):
            # the normalisation runs on the autocast dtype (the kernels keep their statistics in fp32) and the output
            # keeps it: autocast's group_norm would return fp32, which the next convolution casts back
            dtype = torch.get_autocast_dtype(x.device.type)
            with torch.autocast(x.device.type, enabled=False):
                out = self._modulate(x.to(dtype), gamma.to(dtype), beta.to(dtype))
        else:
            out = self._modulate(x, gamma, beta)
        return F.silu(out, inplace=True) if silu else out

    def _modulate(self, x, gamma, beta):
        if x.shape[0] == 1:
            # one sample: its scale and shift are GroupNorm's affine weights, applied in the normalising pass
            return F.group_norm(x, self.norm.num_groups, gamma[0], beta[0], self.norm.eps)
        return torch.addcmul(beta[:, :, None, None], self.norm(x), gamma[:, :, None, None])
