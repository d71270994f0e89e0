"""The fused layers of the generator (modulated GroupNorm, residual blocks, windowed attention, 2x2 pooling) against
their first, unfused implementation: outputs and gradients."""
import math

import pytest
import torch
from conftest import inputs, tiny_unet
from torch.nn import functional as F

from srddgan_arch.archs import attention, layers
from srddgan_arch.archs.attention import AttentionBlock
from srddgan_arch.archs.layers import SKIP_SCALE, AdaptiveGroupNorm, ZEmbedding, upsampled_conv3x3
from srddgan_arch.archs.srddgan_unet_arch import ResBlock


def reference_res_block(block, x, t_emb, z_emb):
    """ResBlock.forward as first written, one new tensor per term of the formula: the oracle of the fused one."""
    z_emb = z_emb.tensor if isinstance(z_emb, ZEmbedding) else z_emb

    def modulated_norm(norm, h):
        gamma, beta = norm.style(z_emb)[:, :, None, None].chunk(2, dim=1)
        return gamma * norm.norm(h) + beta

    h = block._resample(F.silu(modulated_norm(block.norm1, x)))
    h = block.conv1(h) + block.t_proj(F.silu(t_emb))[:, :, None, None]
    h = block.conv2(block.dropout(F.silu(modulated_norm(block.norm2, h))))
    return (block.skip(block._resample(x)) + h) * SKIP_SCALE


def reference_attention(block, x):
    """AttentionBlock.forward as first written: global attention over every position of the map."""
    b, c, h, w = x.shape
    q, k, v = block.qkv(block.norm(x)).reshape(b, 3, c, h * w).transpose(2, 3).unbind(dim=1)
    out = F.scaled_dot_product_attention(q, k, v)
    return (x + block.proj(out.transpose(1, 2).reshape(b, c, h, w))) * SKIP_SCALE
@pytest.mark.parametrize('batch, memory_format, upsampled_conv_positions', [
    (1, torch.contiguous_format, 32 * 32), (1, torch.channels_last, 1), (2, torch.channels_last, 32 * 32),
    (2, torch.contiguous_format, 1)])
def test_fused_blocks_match_first_implementation(monkeypatch, batch, memory_format, upsampled_conv_positions):
    """The fused blocks (modulation in GroupNorm's pass, SiLU and sums in place, the time embedding in conv1's bias,
    the up-block skip conv before upsampling, the upsampling inside conv1, attention in windows) give the outputs and
    gradients of the blocks as first written, on the same fixed weights: one sample or several, either memory format,
    with the upsampling conv's plain or transposed form."""
    monkeypatch.setitem(layers.UPSAMPLED_CONV_MIN_POSITIONS, 'cpu', upsampled_conv_positions)
    torch.manual_seed(0)
    net_g = tiny_unet(ch_mult=(1, 2, 2)).to(memory_format=memory_format)
    for module in net_g.modules():
        if isinstance(module, AdaptiveGroupNorm):  # away from the identity initialisation: scale and shift matter
            torch.nn.init.normal_(module.style.bias, std=0.5)
    y_t, lq, t, z = inputs(batch=batch)
    y_t = y_t.contiguous(memory_format=memory_format)

    def outputs_and_gradients():
        net_g.zero_grad()
        out = net_g(y_t, lq, t, z)
        out.square().mean().backward()
        return [out.detach()] + [p.grad.clone() for p in net_g.parameters()]

    fused = outputs_and_gradients()
    monkeypatch.setattr(ResBlock, 'forward', reference_res_block)
    monkeypatch.setattr(AttentionBlock, 'forward', reference_attention)
    for value, expected in zip(fused, outputs_and_gradients(), strict=True):
        assert torch.allclose(value, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('height, width', [(32, 32), (40, 33), (8, 5)])
def test_upsampled_conv_equals_conv_of_nearest_upsampling(memory_format, height, width):
    """upsampled_conv3x3 is the 3x3 convolution (padding 1) of the 2x nearest-upsampled map, values and gradients, on
    maps that take the transposed form (from 32x32 positions; odd sizes too) and on a small one that does not; its
    output keeps the input's memory format."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, height, width).contiguous(memory_format=memory_format).requires_grad_()
    weight, bias = torch.randn(5, 6, 3, 3, requires_grad=True), torch.randn(5, requires_grad=True)
    out = upsampled_conv3x3(x, weight, bias)
    expected = F.conv2d(F.interpolate(x, scale_factor=2, mode='nearest'), weight, bias, padding=1)
    assert out.shape == (2, 5, 2 * height, 2 * width)
    assert out.is_contiguous(memory_format=memory_format)
    assert torch.allclose(out, expected, atol=1e-5)
    grad_out = torch.randn_like(out)
    gradients = torch.autograd.grad(out, (x, weight, bias), grad_out)
    for value, reference in zip(gradients, torch.autograd.grad(expected, (x, weight, bias), grad_out), strict=True):
        assert torch.allclose(value, reference, rtol=1e-4, atol=1e-5 * reference.abs().max().item())


def test_z_embedding_computes_each_style_once():
    """A ZEmbedding passed to every step gives the outputs of the raw z, with each norm's style layer run once."""
    torch.manual_seed(0)
    net_g = tiny_unet(ch_mult=(1, 2)).eval()
    y_t, lq, t, z = inputs(batch=2)
    calls = []
    for module in net_g.modules():
        if isinstance(module, AdaptiveGroupNorm):
            module.style.register_forward_hook(lambda mod, args, out: calls.append(mod))
    with torch.no_grad():
        expected = [net_g(y_t, lq, t - step, z) for step in range(2)]
        calls.clear()
        z_emb = net_g.embed_z(z)
        reused = [net_g(y_t, lq, t - step, z_emb) for step in range(2)]
    for value, reference in zip(reused, expected, strict=True):
        assert torch.equal(value, reference)
    assert len(calls) == len(set(calls)) == sum(isinstance(m, AdaptiveGroupNorm) for m in net_g.modules())


@pytest.mark.parametrize('height, width', [(4, 3), (8, 8), (10, 13), (3, 17)])
def test_windowed_attention_equals_attention_in_each_window(height, width):
    """A map larger than the window attends within windows of the window's size, the last one moved back to the
    border (positions covered twice keep the earlier window's output); norm and 1x1 convs see the whole map. A map no
    larger than the window is one window: global attention."""
    torch.manual_seed(0)
    block = AttentionBlock(8, window=4)
    x = torch.randn(2, 8, height, width)

    def starts(size):
        length = min(4, size)
        return [min(i, size - length) for i in range(0, size, length)], length

    (rows, win_h), (cols, win_w) = starts(height), starts(width)
    qkv = block.qkv(block.norm(x))
    out = torch.empty_like(x)
    for top in reversed(rows):
        for left in reversed(cols):
            window = qkv[:, :, top:top + win_h, left:left + win_w].reshape(2, 3, 8, win_h * win_w).transpose(2, 3)
            attended = F.scaled_dot_product_attention(*window.unbind(dim=1))
            out[:, :, top:top + win_h, left:left + win_w] = attended.transpose(1, 2).reshape(2, 8, win_h, win_w)
    expected = (x + block.proj(out)) * SKIP_SCALE
    assert torch.allclose(block(x), expected, atol=1e-6)
    if height <= 4 and width <= 4:
        assert torch.allclose(block(x), reference_attention(block, x), atol=1e-6)


def test_attention_context_stays_the_trained_one(monkeypatch):
    """On an HR image larger than image_size every attention call sees the positions of one trained-size map (16 x 16
    here), more windows instead of longer ones: attention cost grows linearly with the pixels."""
    lengths, sdpa = [], F.scaled_dot_product_attention

    def recording_attention(q, k, v):
        lengths.append(tuple(q.shape[:3]))
        return sdpa(q, k, v)

    monkeypatch.setattr(attention.F, 'scaled_dot_product_attention', recording_attention)
    net_g = tiny_unet().eval()
    y_t, lq, t, z = inputs(batch=1)
    with torch.no_grad():
        net_g(torch.randn(1, 3, 96, 64), torch.randn(1, 3, 48, 32), t[:1], z[:1])
    # the attention blocks at 16 px (one going down, one going up) and the mid block, each over 3 x 2 windows of 256
    assert lengths == [(6, 1, 256)] * 3


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('shape', [(2, 8, 16, 16), (1, 3, 7, 9)])
def test_avg_pool_2x_is_avg_pool2d(shape, memory_format):
    """avg_pool_2x (a depthwise convolution on CPU NCHW maps) gives avg_pool2d's values and input gradients."""
    x = torch.randn(*shape).contiguous(memory_format=memory_format).requires_grad_(True)
    weights = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2)
    outputs = [pool(x) for pool in (layers.avg_pool_2x, lambda v: F.avg_pool2d(v, 2))]
    grads = [torch.autograd.grad((out * weights).sum(), x)[0] for out in outputs]
    assert torch.equal(outputs[0], outputs[1]) and torch.allclose(grads[0], grads[1], atol=1e-7)


@pytest.mark.parametrize('batch', [1, 2])
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_adaptive_group_norm_keeps_the_autocast_dtype(batch, dtype):
    """Under autocast the modulated norm returns the dtype the next convolution computes in, also from an fp32 input
    (CUDA's autocast runs group_norm in fp32, so every norm-to-conv boundary cast back and forth), within the low
    precision's rounding of the fp32 values; outside autocast it stays fp32."""
    torch.manual_seed(0)
    norm, conv = AdaptiveGroupNorm(8, 4), torch.nn.Conv2d(8, 8, 3, padding=1)
    torch.nn.init.normal_(norm.style.bias, std=0.5)
    x, z_emb = torch.randn(batch, 8, 8, 8), torch.randn(batch, 4)
    expected = norm(x, z_emb, silu=True)
    with torch.autocast('cpu', dtype=dtype):
        assert norm(conv(x), z_emb).dtype == conv(x).dtype == dtype
        out = norm(x, z_emb, silu=True)
    assert expected.dtype == torch.float32 and out.dtype == dtype
    assert torch.allclose(out.float(), expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('size', [4, 6])
def test_attention_gets_4d_queries_with_contiguous_channels(monkeypatch, memory_format, size):
    """scaled_dot_product_attention gets q, k, v as (batch or windows, 1 head, positions, channels) with the channels
    contiguous (what CUDA's fused kernels need), global (one window) and windowed, in either memory format; the
    values are those of global attention on 3-D q, k, v as first written."""
    shapes, sdpa = [], F.scaled_dot_product_attention

    def recording_attention(q, k, v):
        shapes.append((q.ndim, q.shape[1], q.stride(-1), k.stride(-1), v.stride(-1)))
        return sdpa(q, k, v)

    torch.manual_seed(0)
    block = AttentionBlock(8, window=4)
    x = torch.randn(2, 8, size, size).contiguous(memory_format=memory_format)
    monkeypatch.setattr(attention.F, 'scaled_dot_product_attention', recording_attention)
    out = block(x)
    assert shapes == [(4, 1, 1, 1, 1)]
    if size <= 4:
        assert torch.allclose(out, reference_attention(block, x), atol=1e-6)


def test_window_indices_are_built_once_per_size_and_device():
    """A second call with the same size, window and device returns the cached index tensors, equal to new ones."""
    attention.window_indices.cache_clear()
    first = attention.window_indices(10, 4, torch.device('cpu'))
    second = attention.window_indices(10, 4, torch.device('cpu'))
    assert attention.window_indices.cache_info().hits == 1 and first[0] is second[0]
    gather, scatter = attention.padded_window_indices(10, 4)
    assert torch.equal(first[0], gather) and torch.equal(first[1], scatter) and first[2] == 4


def test_upsampled_conv_folds_each_weight_once_in_inference(monkeypatch):
    """Under no_grad the transposed form folds a weight once and reuses the kernel until the weight changes in place;
    with gradients it folds on every call (the fold is in the graph); values stay the plain form's."""
    folds, fold = [], layers._fold_kernel
    monkeypatch.setattr(layers, '_fold_kernel', lambda weight: folds.append(weight) or fold(weight))
    monkeypatch.setitem(layers.UPSAMPLED_CONV_MIN_POSITIONS, 'cpu', 1)
    torch.manual_seed(0)
    x, weight = torch.randn(1, 4, 6, 6), torch.randn(3, 4, 3, 3, requires_grad=True)

    def expected():
        return F.conv2d(F.interpolate(x, scale_factor=2, mode='nearest'), weight, padding=1)

    with torch.no_grad():
        outputs = [upsampled_conv3x3(x, weight) for _ in range(3)]
        assert len(folds) == 1 and all(torch.allclose(out, expected(), atol=1e-5) for out in outputs)
        weight.mul_(2)
        assert torch.allclose(upsampled_conv3x3(x, weight), expected(), atol=1e-5) and len(folds) == 2
    for _ in range(2):
        upsampled_conv3x3(x, weight).sum().backward()
    assert len(folds) == 4


@pytest.mark.parametrize('threshold, transposed', [(1, True), (math.inf, False)])
def test_upsampled_conv_threshold_is_set_per_device_type(monkeypatch, threshold, transposed):
    """UPSAMPLED_CONV_MIN_POSITIONS holds the threshold per device type (what gpu_check's A/B sets): 1 forces the
    transposed form, inf the plain one."""
    calls, conv_transpose2d = [], F.conv_transpose2d
    monkeypatch.setattr(layers.F, 'conv_transpose2d', lambda *a, **k: calls.append(1) or conv_transpose2d(*a, **k))
    monkeypatch.setitem(layers.UPSAMPLED_CONV_MIN_POSITIONS, 'cpu', threshold)
    upsampled_conv3x3(torch.randn(1, 4, 4, 4), torch.randn(3, 4, 3, 3))
    assert bool(calls) == transposed


@pytest.mark.slow
def test_compiled_generator_samples_with_one_graph():
    """torch.compile of G: the T steps of a sample and the next samples run one compiled graph (the z styles are all
    computed before the first step, so no step changes the ZEmbedding the others get), with the eager values."""
    from torch._dynamo.utils import counters

    from srddgan_arch.diffusion import DiffusionSchedule, sample

    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    net_g = tiny_unet().eval()
    compiled = torch.compile(net_g)
    for attribute in ('encode_lr', 'embed_z', 'z_dim', 'scale', 'out_channels'):
        setattr(compiled, attribute, getattr(net_g, attribute))
    lq = torch.rand(1, 3, 16, 16) * 2 - 1
    for seed in range(2):
        out = sample(compiled, lq, DiffusionSchedule(4), noise_generator=torch.Generator().manual_seed(seed))
        expected = sample(net_g, lq, DiffusionSchedule(4), noise_generator=torch.Generator().manual_seed(seed))
        assert torch.allclose(out, expected, atol=1e-4)
    assert counters['stats']['unique_graphs'] == 1
