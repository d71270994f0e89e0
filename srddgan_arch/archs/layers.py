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


# batches with at least this many input positions (batch x height x width) take upsampled_conv3x3's transposed form
# (measured on 2 CPU cores, 16-256 channels: 1.2-3x faster from 1 x 32 x 32 or 8 x 16 x 16, inference and training;
# a tie at 1 x 16 x 16; slower below)
UPSAMPLED_CONV_MIN_POSITIONS = 32 * 32


def upsampled_conv3x3(x, weight, bias=None):
    """``conv2d(nearest_upsample_2x(x), weight, bias, padding=1)`` for a 3x3 ``weight``, with 16 instead of 36
    multiply-adds per input position on large maps.

    On the 2x nearest-upsampled map every output pixel sees 2x2 input pixels, whose 3x3 taps sum by output phase: a
    transposed convolution (stride 2) with the 4x4 kernel whose rows and columns are (w2, w1 + w2, w0 + w1, w0) of the
    3x3 taps. Same values (to float rounding), same gradients; batches under ``UPSAMPLED_CONV_MIN_POSITIONS`` input
    positions and graph export keep the plain form, faster there.

    Args:
        x (Tensor): Input (B, C_in, H, W).
        weight (Tensor): 3x3 convolution weight (C_out, C_in, 3, 3).
        bias (Tensor | None): Bias (C_out,). Default: None.

    Returns:
        Tensor: (B, C_out, 2H, 2W).
    """
    if x.shape[0] * x.shape[-2] * x.shape[-1] < UPSAMPLED_CONV_MIN_POSITIONS or torch.compiler.is_exporting():
        return F.conv2d(F.interpolate(x, scale_factor=2, mode='nearest'), weight, bias, padding=1)

    def fold(w, dim):
        w0, w1, w2 = w.unbind(dim)
        return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)

    return F.conv_transpose2d(x, fold(fold(weight, 2), 3).transpose(0, 1), bias, stride=2, padding=1)


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
    """A batch's z embedding and the scale and shift each ``AdaptiveGroupNorm`` derives from it, each computed once.

    z is fixed for the T steps of a sample: the sampler embeds it once (``SRDDGANUNet.embed_z``) and every step
    reuses the styles, whose layers hold a fifth of the paper generator's weights (8M parameters, 7 ms of reads per
    step on 2 CPU cores).

    Args:
        z_emb (Tensor): z embeddings (B, z_emb_dim), the mapping network's output.
    """

    def __init__(self, z_emb):
        self.tensor = z_emb
        self._styles = {}

    def styles(self, norm):
        """(gamma, beta), each (B, channels), of the AdaptiveGroupNorm ``norm`` for this embedding."""
        if norm not in self._styles:
            self._styles[norm] = norm.style(self.tensor).chunk(2, dim=1)
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
        if x.shape[0] == 1:
            # one sample: its scale and shift are GroupNorm's affine weights, applied in the normalising pass
            out = F.group_norm(x, self.norm.num_groups, gamma[0], beta[0], self.norm.eps)
        else:
            out = torch.addcmul(beta[:, :, None, None], self.norm(x), gamma[:, :, None, None])
        return F.silu(out, inplace=True) if silu else out


def window_indices(size, window):
    """Attention windows along one axis: where they read their positions and where each position reads its output.

    Windows are ``window`` long (the whole axis when it is shorter) and side by side; when they do not fill the axis
    exactly, the last one is moved back to end at the border, overlapping its neighbour, so every window keeps the
    trained length. Positions covered twice take the output of the window before the last.

    Args:
        size (int): Length of the axis.
        window (int): Window length.

    Returns:
        tuple[Tensor, Tensor, int]: ``gather`` (number of windows * length,): the axis positions of the windows, one
        window after the other; ``scatter`` (size,): each position's index in ``gather``; the window length.
    """
    length = min(window, size)
    return *padded_window_indices(size, length), length


def padded_window_indices(size, window):
    """:func:`window_indices` with windows of exactly ``window`` positions, also for a shorter axis (its last position
    repeated to fill the window), written so that a symbolic ``size`` (a traced graph) stays symbolic.

    Args:
        size (int): Length of the axis.
        window (int): Window length.

    Returns:
        tuple[Tensor, Tensor]: ``gather`` (number of windows * window,) and ``scatter`` (size,), as in
        :func:`window_indices`.
    """
    count = (size + window - 1) // window
    starts = (torch.arange(count) * window).clamp(max=size - window).clamp(min=0)
    positions = torch.arange(size)
    owner = (positions // window).clamp(max=count - 1)
    gather = (starts[:, None] + torch.arange(window)).flatten().clamp(max=size - 1)
    return gather, owner * window + positions - starts[owner]


def _to_windows(qkv, win_h, win_w):
    """Queries, keys and values (windows, win_h * win_w, c) of a (b, 3 * c, H, W) map tiled by windows exactly."""
    b, c = qkv.shape[0], qkv.shape[1] // 3
    num_h, num_w = qkv.shape[2] // win_h, qkv.shape[3] // win_w
    return (qkv.reshape(b, 3, c, num_h, win_h, num_w, win_w).permute(1, 0, 3, 5, 4, 6, 2)
            .reshape(3, b * num_h * num_w, win_h * win_w, c).unbind(dim=0))


def _from_windows(out, b, num_h, num_w, win_h, win_w):
    """The (b, c, num_h * win_h, num_w * win_w) map of the per-window outputs (windows, win_h * win_w, c)."""
    c = out.shape[-1]
    return (out.reshape(b, num_h, num_w, win_h, win_w, c).permute(0, 5, 1, 3, 2, 4)
            .reshape(b, c, num_h * win_h, num_w * win_w))


class AttentionBlock(nn.Module):
    """Single-head self-attention through ``scaled_dot_product_attention``, residual 1/sqrt(2), within windows.

    The attention runs within windows of ``window`` x ``window`` positions (see ``window_indices``): with the size the
    feature map had at the training resolution, a map up to that size is one window (plain global attention, as
    trained), and a larger map keeps the trained context and a cost linear in its number of positions instead of
    quadratic. The norm and the 1x1 convs act on the whole map.

    Args:
        channels (int): Feature channels.
        window (int | None): Window side in positions; None for global attention at every size. Default: None.
    """

    def __init__(self, channels, window=None):
        super().__init__()
        self.window = window
        self.norm = nn.GroupNorm(num_groups(channels), channels, eps=1e-6)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, height, width = x.shape
        qkv = self.qkv(self.norm(x))
        if self.window is not None and torch.compiler.is_exporting():
            out = self._traceable_attention(qkv)
        elif height <= (self.window or height) and width <= (self.window or width):
            # one window: global attention over the map, as trained
            q, k, v = qkv.reshape(b, 3, c, height * width).transpose(2, 3).unbind(dim=1)
            out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, c, height, width)
        else:
            out = self._windowed_attention(qkv)
        return self.proj(out).add_(x).mul_(SKIP_SCALE)

    def _windowed_attention(self, qkv):
        """Attention within windows of the (b, 3 * c, H, W) query-key-value map; returns the (b, c, H, W) output."""
        height, width = qkv.shape[2:]
        rows, rows_back, win_h = window_indices(height, self.window)
        cols, cols_back, win_w = window_indices(width, self.window)
        # windows that fill the axis exactly need no gathering: a reshape makes them
        if len(rows) != height:
            qkv = qkv.index_select(2, rows.to(qkv.device))
        if len(cols) != width:
            qkv = qkv.index_select(3, cols.to(qkv.device))
        num_h, num_w = qkv.shape[2] // win_h, qkv.shape[3] // win_w
        out = _from_windows(F.scaled_dot_product_attention(*_to_windows(qkv, win_h, win_w)), qkv.shape[0], num_h,
                            num_w, win_h, win_w)
        if len(rows) != height:
            out = out.index_select(2, rows_back.to(qkv.device))
        if len(cols) != width:
            out = out.index_select(3, cols_back.to(qkv.device))
        return out

    def _traceable_attention(self, qkv):
        """``forward``'s attention for a graph exported for any size (ONNX), where sizes are symbolic and cannot choose
        a branch: windows of exactly ``window`` positions; an axis shorter than that is padded by repetition and the
        padding masked out of the keys, so that a map within one window gets global attention, as in eager mode."""
        height, width = qkv.shape[2:]
        rows, rows_back = padded_window_indices(height, self.window)
        cols, cols_back = padded_window_indices(width, self.window)
        qkv = qkv.index_select(2, rows.to(qkv.device)).index_select(3, cols.to(qkv.device))
        q, k, v = _to_windows(qkv, self.window, self.window)
        inside = torch.arange(self.window, device=qkv.device)
        padding = ~((inside[:, None] < height) & (inside[None, :] < width)).flatten()
        scores = (q @ k.transpose(1, 2)).mul_(q.shape[-1]**-0.5).masked_fill_(padding, float('-inf'))
        num_h, num_w = qkv.shape[2] // self.window, qkv.shape[3] // self.window
        out = _from_windows(scores.softmax(dim=-1) @ v, qkv.shape[0], num_h, num_w, self.window, self.window)
        return out.index_select(2, rows_back.to(qkv.device)).index_select(3, cols_back.to(qkv.device))
