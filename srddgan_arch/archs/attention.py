"""Self-attention of the SRDDGAN generator within windows of the trained size (not registered: no ``_arch``
suffix)."""
import functools

import torch
from torch import nn
from torch.nn import functional as F

from .layers import SKIP_SCALE, num_groups


@functools.lru_cache(maxsize=64)
def window_indices(size, window, device=None):
    """Attention windows along one axis: where they read their positions and where each position reads its output.

    Windows are ``window`` long (the whole axis when it is shorter) and side by side; when they do not fill the axis
    exactly, the last one is moved back to end at the border, overlapping its neighbour, so every window keeps the
    trained length. Positions covered twice take the output of the window before the last. Built once per (size,
    window, device) and cached: a sampler's every step reuses them (do not modify them in place).

    Args:
        size (int): Length of the axis.
        window (int): Window length.
        device (torch.device | None): Where the index tensors live. Default: None (the CPU).

    Returns:
        tuple[Tensor, Tensor, int]: ``gather`` (number of windows * length,): the axis positions of the windows, one
        window after the other; ``scatter`` (size,): each position's index in ``gather``; the window length.
    """
    length = min(window, size)
    gather, scatter = padded_window_indices(size, length)
    return gather.to(device), scatter.to(device), length


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
    """Queries, keys and values (windows, 1, win_h * win_w, c) of a (b, 3 * c, H, W) map tiled by windows exactly:
    4-D, one head, the layout CUDA's fused attention kernels take."""
    b, c = qkv.shape[0], qkv.shape[1] // 3
    num_h, num_w = qkv.shape[2] // win_h, qkv.shape[3] // win_w
    return (qkv.reshape(b, 3, c, num_h, win_h, num_w, win_w).permute(1, 0, 3, 5, 4, 6, 2)
            .reshape(3, b * num_h * num_w, 1, win_h * win_w, c).unbind(dim=0))


def _from_windows(out, b, num_h, num_w, win_h, win_w):
    """The (b, c, num_h * win_h, num_w * win_w) map of the per-window outputs (windows, 1, win_h * win_w, c)."""
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
            # one window: global attention over the map, as trained. q, k, v are (b, 1 head, positions, c) with the
            # channels contiguous (a channels-last map has them so), the layout the fused kernels take
            qkv = qkv.reshape(b, 3, 1, c, height * width).transpose(-1, -2)
            q, k, v = (qkv if qkv.stride(-1) == 1 else qkv.contiguous()).unbind(dim=1)
            out = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(b, c, height, width)
        else:
            out = self._windowed_attention(qkv)
        return self.proj(out).add_(x).mul_(SKIP_SCALE)

    def _windowed_attention(self, qkv):
        """Attention within windows of the (b, 3 * c, H, W) query-key-value map; returns the (b, c, H, W) output."""
        height, width = qkv.shape[2:]
        rows, rows_back, win_h = window_indices(height, self.window, qkv.device)
        cols, cols_back, win_w = window_indices(width, self.window, qkv.device)
        # windows that fill the axis exactly need no gathering: a reshape makes them
        if len(rows) != height:
            qkv = qkv.index_select(2, rows)
        if len(cols) != width:
            qkv = qkv.index_select(3, cols)
        num_h, num_w = qkv.shape[2] // win_h, qkv.shape[3] // win_w
        out = _from_windows(F.scaled_dot_product_attention(*_to_windows(qkv, win_h, win_w)), qkv.shape[0], num_h,
                            num_w, win_h, win_w)
        if len(rows) != height:
            out = out.index_select(2, rows_back)
        if len(cols) != width:
            out = out.index_select(3, cols_back)
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
        scores = (q @ k.transpose(-1, -2)).mul_(q.shape[-1]**-0.5).masked_fill_(padding, float('-inf'))
        num_h, num_w = qkv.shape[2] // self.window, qkv.shape[3] // self.window
        out = _from_windows(scores.softmax(dim=-1) @ v, qkv.shape[0], num_h, num_w, self.window, self.window)
        return out.index_select(2, rows_back.to(qkv.device)).index_select(3, cols_back.to(qkv.device))
