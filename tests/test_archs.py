"""Tests of the SRDDGAN networks: U-Net generator, RRDB encoder and discriminator (tiny widths, CPU); the fused
layers against their first implementation: test_arch_layers.py."""
import pytest
import torch
from basicsr.archs.rrdbnet_arch import RRDBNet
from basicsr.utils.registry import ARCH_REGISTRY
from conftest import TINY_ENCODER, inputs, tiny_unet

from srddgan_arch.archs.attention import AttentionBlock
from srddgan_arch.archs.rrdb_encoder_arch import RRDBEncoder
from srddgan_arch.archs.srddgan_discriminator_arch import SRDDGANDiscriminator
from srddgan_arch.archs.srddgan_unet_arch import SRDDGANUNet
from srddgan_arch.diffusion import DiffusionSchedule, sample

# the paper's three configurations (channel multipliers, scale, HR size) at tiny widths
PAPER_SHAPES = {
    'div2k_x4': dict(scale=4, image_size=128, ch_mult=(1, 1, 2, 2, 4, 4)),
    'faces_x8': dict(scale=8, image_size=128, ch_mult=(1, 1, 2, 2, 4, 4)),
    'cifar10_x2': dict(scale=2, image_size=32, ch_mult=(1, 2, 2, 2)),
}



def test_networks_are_registered():
    """The three networks are in BasicSR's ARCH_REGISTRY."""
    for name in ('SRDDGANUNet', 'RRDBEncoder', 'SRDDGANDiscriminator'):
        assert name in ARCH_REGISTRY


@pytest.mark.parametrize('config', sorted(PAPER_SHAPES))
def test_output_shapes_paper_configs(config):
    """Generator gives an HR image in [-1, 1] and the discriminator one logit per image for each configuration."""
    shape = PAPER_SHAPES[config]
    net_g = SRDDGANUNet(**shape, num_feat=4, num_res_blocks=1, z_dim=8, **TINY_ENCODER).eval()
    net_d = SRDDGANDiscriminator(num_feat=4, image_size=shape['image_size'], lr_cond=True, scale=shape['scale'])
    y_t, lq, t, z = inputs(batch=2, size=shape['image_size'], scale=shape['scale'])
    with torch.no_grad():
        y0 = net_g(y_t, lq, t, z)
        logits = net_d(y0, y_t, t, lq)
    assert y0.shape == y_t.shape and y0.abs().max() <= 1
    assert logits.shape == (2, )


def test_any_hr_size_divisible_by_levels():
    """A non-square HR size divisible by 2 ** (levels - 1) works; one that is not raises a clear error."""
    net_g = tiny_unet().eval()
    y_t, lq, t, z = inputs()
    with torch.no_grad():
        out = net_g(torch.randn(2, 3, 24, 40), torch.randn(2, 3, 12, 20), t, z)
    assert out.shape == (2, 3, 24, 40)
    with pytest.raises(ValueError, match='not divisible'):
        net_g(torch.randn(2, 3, 30, 31), torch.randn(2, 3, 15, 15), t, z)


def test_residual_generator_starts_at_bicubic_and_has_no_tanh():
    """residual: the untrained network returns the bicubic-upsampled LR exactly (zero output conv); trained, its
    correction is added without tanh, so values outside [-1, 1] stay possible; channels must match."""
    net = tiny_unet(residual=True)
    y_t, lq, t, z = inputs()
    bicubic = torch.nn.functional.interpolate(lq, scale_factor=2, mode='bicubic', align_corners=False)
    assert torch.equal(net(y_t, lq, t, z), bicubic)
    torch.nn.init.constant_(net.conv_out.bias, 3.0)
    assert torch.allclose(net(y_t, lq, t, z), bicubic + 3.0)
    with pytest.raises(ValueError, match='residual needs in_channels == out_channels'):
        tiny_unet(residual=True, out_channels=1)


def test_bad_generator_options_raise():
    """Odd scales, image sizes not divisible by the levels and an empty mapping network are rejected."""
    with pytest.raises(ValueError, match='scale'):
        tiny_unet(scale=3)
    with pytest.raises(ValueError, match='image_size'):
        tiny_unet(image_size=36, ch_mult=(1, 2, 2, 2))
    with pytest.raises(ValueError, match='num_mapping_layers'):
        tiny_unet(num_mapping_layers=0)


def test_attention_layout_follows_ncsnpp():
    """At an attention resolution: one attention block after each residual block going down, one per level going up
    (after its num_res_blocks + 1 blocks, as NCSN++), one in the middle."""
    net = tiny_unet(num_res_blocks=2, ch_mult=(1, 2, 2), attn_resolutions=(16, 8))
    count = {path: sum(isinstance(layer, AttentionBlock) for layer in getattr(net, path))
             for path in ('down', 'mid', 'up')}
    assert count == {'down': 2 * 2, 'mid': 1, 'up': 2}
    up_kinds = ['attn' if isinstance(layer, AttentionBlock) else layer.resample for layer in net.up]
    assert up_kinds == [None, None, None, 'attn', 'up', None, None, None, 'attn', 'up', None, None, None]


def test_generator_gradients_reach_every_parameter():
    """One backward pass gives a non-zero gradient to every generator parameter (encoder and z mapping included)."""
    torch.manual_seed(0)
    net_g = tiny_unet(dropout=0.1)
    net_g(*inputs()).square().mean().backward()
    no_grad = [name for name, p in net_g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_discriminator_gradients_reach_every_parameter():
    """One backward pass gives a non-zero gradient to every discriminator parameter."""
    torch.manual_seed(0)
    net_d = SRDDGANDiscriminator(num_feat=4, image_size=32, lr_cond=True, scale=2)
    y_t, lq, t, _ = inputs(batch=4)
    net_d(torch.randn_like(y_t), y_t, t, lq).square().mean().backward()
    no_grad = [name for name, p in net_d.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


@pytest.mark.parametrize('image_size, num_blocks, num_down', [(32, 4, 3), (128, 5, 5)])
def test_discriminator_depth_and_batch_sizes(image_size, num_blocks, num_down):
    """Depth follows DDGAN (32 px: 1 + 3 blocks, 128 px: 5) and any batch size works with minibatch-stddev."""
    net_d = SRDDGANDiscriminator(num_feat=4, image_size=image_size)
    assert len(net_d.blocks) == num_blocks and sum(b.downsample for b in net_d.blocks) == num_down
    for batch in (1, 3, 6):
        y_t = torch.randn(batch, 3, image_size, image_size)
        assert net_d(y_t, y_t, torch.ones(batch, dtype=torch.long)).shape == (batch, )


def test_discriminator_needs_lq_when_lr_conditioned():
    """A discriminator built with lr_cond refuses a call without lq; a bad image_size is rejected."""
    net_d = SRDDGANDiscriminator(num_feat=4, image_size=32, lr_cond=True, scale=2)
    y_t, _, t, _ = inputs()
    with pytest.raises(ValueError, match='lr_cond'):
        net_d(y_t, y_t, t)
    with pytest.raises(ValueError, match='image_size'):
        SRDDGANDiscriminator(image_size=48)


def test_freeze_encoder():
    """freeze_encoder stops gradients at the encoder while the rest still trains."""
    net_g = tiny_unet(freeze_encoder=True)
    net_g(*inputs()).mean().backward()
    assert all(p.grad is None for p in net_g.encoder.parameters())
    assert net_g.lr_proj.weight.grad is not None and net_g.conv_in.weight.grad is not None


def test_z_changes_output_and_same_inputs_repeat():
    """Different z give different images; the same z (and weights from the same seed) give identical ones."""
    torch.manual_seed(0)
    net_a = tiny_unet().eval()
    torch.manual_seed(0)
    net_b = tiny_unet().eval()
    y_t, lq, t, z = inputs()
    with torch.no_grad():
        out = net_a(y_t, lq, t, z)
        assert torch.equal(out, net_b(y_t, lq, t, z))
        assert (out - net_a(y_t, lq, t, torch.randn_like(z))).abs().max() > 1e-3


@pytest.mark.parametrize('lr_concat, lr_encoder', [(True, False), (False, True), (True, True)])
def test_lr_conditioning_switches(lr_concat, lr_encoder):
    """V1 (concat only), encoder only and V2 (both) all build, run, and depend on the LR image."""
    net_g = tiny_unet(lr_concat=lr_concat, lr_encoder=lr_encoder).eval()
    assert (net_g.encoder is not None) == lr_encoder
    assert (net_g.encode_lr(torch.zeros(1, 3, 8, 8)) is None) != lr_encoder
    y_t, lq, t, z = inputs()
    with torch.no_grad():
        assert (net_g(y_t, lq, t, z) - net_g(y_t, -lq, t, z)).abs().max() > 1e-4


def test_precomputed_lr_feats_match():
    """Passing encode_lr's output gives the same image as letting forward compute it."""
    net_g = tiny_unet().eval()
    y_t, lq, t, z = inputs()
    with torch.no_grad():
        assert torch.allclose(net_g(y_t, lq, t, z), net_g(y_t, lq, t, z, lr_feats=net_g.encode_lr(lq)))


def test_encoder_runs_once_per_image_during_sampling():
    """A 4-step sample calls the generator 4 times but the LR encoder only once."""
    net_g = tiny_unet().eval()
    calls = {'encoder': 0, 'generator': 0}
    net_g.encoder.register_forward_hook(lambda *_: calls.__setitem__('encoder', calls['encoder'] + 1))
    net_g.register_forward_hook(lambda *_: calls.__setitem__('generator', calls['generator'] + 1))
    sample(net_g, inputs()[1], DiffusionSchedule(4))
    assert calls == {'encoder': 1, 'generator': 4}


def test_several_samples_share_one_encoder_pass():
    """num_samples=3 draws three different SR batches in one batch of T calls, with one encoder pass on the LR."""
    net_g = tiny_unet().eval()
    encoder_batches = []
    net_g.encoder.register_forward_hook(lambda module, args, out: encoder_batches.append(args[0].shape[0]))
    lq = inputs()[1]
    out = sample(net_g, lq, DiffusionSchedule(2), num_samples=3, noise_generator=torch.Generator().manual_seed(0))
    assert encoder_batches == [lq.shape[0]]
    first, second, third = out.chunk(3)
    assert first.shape[0] == lq.shape[0] and (first - second).abs().max() > 1e-4 and (second - third).abs().max() > 1e-4


def test_four_step_sample_x4_from_32px():
    """A random-weight x4 generator samples 128x128 images in [-1, 1] from 32x32 LR; the same seed repeats."""
    torch.manual_seed(0)
    net_g = SRDDGANUNet(scale=4, image_size=128, num_feat=4, ch_mult=(1, 1, 2, 2, 4, 4), num_res_blocks=1, z_dim=8,
                        **TINY_ENCODER).eval()
    lq = torch.rand(1, 3, 32, 32) * 2 - 1
    out = sample(net_g, lq, DiffusionSchedule(4), noise_generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 3, 128, 128) and out.abs().max() <= 1 and torch.isfinite(out).all()
    again = sample(net_g, lq, DiffusionSchedule(4), noise_generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_state_dict_round_trip(tmp_path):
    """Saved weights loaded into a differently initialised generator reproduce its outputs exactly."""
    torch.manual_seed(0)
    net_a = tiny_unet().eval()
    torch.save(net_a.state_dict(), tmp_path / 'net_g.pth')
    torch.manual_seed(1)
    net_b = tiny_unet().eval()
    net_b.load_state_dict(torch.load(tmp_path / 'net_g.pth', weights_only=True))
    with torch.no_grad():
        assert torch.equal(net_a(*inputs()), net_b(*inputs()))


def test_encoder_feature_channels():
    """The encoder returns every third hidden state (SRDiff), num_feat * ((num_block + 1) // 3) channels, at LR size."""
    encoder = RRDBEncoder(num_feat=4, num_block=5, num_grow_ch=4)
    feats = encoder(torch.randn(2, 3, 8, 8))
    assert encoder.out_channels == 8 and feats.shape == (2, 8, 8, 8)


@pytest.mark.parametrize('param_key', ['params', 'params_ema'])
def test_load_rrdbnet_checkpoint(tmp_path, param_key):
    """A BasicSR RRDBNet checkpoint (params or params_ema, with 'module.' prefixes) loads into the encoder."""
    rrdbnet = RRDBNet(3, 3, scale=4, num_feat=4, num_block=2, num_grow_ch=4)
    state = {f'module.{k}': v for k, v in rrdbnet.state_dict().items()}
    torch.save({param_key: state}, tmp_path / 'rrdb.pth')
    net_g = tiny_unet(encoder_pretrained_path=str(tmp_path / 'rrdb.pth'), encoder_param_key=param_key)
    for name, value in net_g.encoder.state_dict().items():
        assert torch.equal(value, rrdbnet.state_dict()[name])


def rrdbnet_hidden_states(rrdbnet, img):
    """The hidden states of BasicSR's RRDBNet on ``img``, read from its own forward pass with hooks: every RRDB
    block's output, then the trunk output conv_first + conv_body(body)."""
    outputs = {}
    rrdbnet.conv_first.register_forward_hook(lambda module, args, out: outputs.__setitem__('first', out))
    rrdbnet.conv_body.register_forward_hook(lambda module, args, out: outputs.__setitem__('body', out))
    for index, block in enumerate(rrdbnet.body):
        block.register_forward_hook(lambda module, args, out, index=index: outputs.__setitem__(index, out))
    with torch.no_grad():
        rrdbnet(img)
    return [outputs[index] for index in range(len(rrdbnet.body))] + [outputs['first'] + outputs['body']]


def test_pretrained_encoder_sees_what_rrdbnet_sees(tmp_path):
    """The generator's encoder, loaded from a BasicSR RRDBNet checkpoint and given the LR in [-1, 1] (the diffusion's
    range), computes the features RRDBNet's own trunk computes on the same image in [0, 1], its training range."""
    torch.manual_seed(0)
    rrdbnet = RRDBNet(3, 3, scale=4, num_feat=4, num_block=5, num_grow_ch=4).eval()
    torch.save({'params': rrdbnet.state_dict()}, tmp_path / 'rrdb.pth')
    net_g = tiny_unet(encoder_num_feat=4, encoder_num_block=5, encoder_num_grow_ch=4,
                      encoder_pretrained_path=str(tmp_path / 'rrdb.pth')).eval()
    img = torch.rand(2, 3, 8, 8)
    features = []
    net_g.encoder.register_forward_hook(lambda module, args, out: features.append(out))
    with torch.no_grad():
        net_g.encode_lr(img * 2 - 1)
    expected = torch.cat(rrdbnet_hidden_states(rrdbnet, img)[2::3], dim=1)
    assert features[0].shape == (2, 8, 8, 8)
    assert torch.allclose(features[0], expected, atol=1e-6)


def test_load_rrdbnet_errors(tmp_path):
    """Missing files, a wrong param key and a different block count raise errors naming the problem."""
    encoder = RRDBEncoder(num_feat=4, num_block=2, num_grow_ch=4)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        encoder.load_rrdbnet(str(tmp_path / 'missing.pth'))
    torch.save({'params': RRDBNet(3, 3, num_feat=4, num_block=3, num_grow_ch=4).state_dict()}, tmp_path / 'r.pth')
    with pytest.raises(KeyError, match='params_ema'):
        encoder.load_rrdbnet(str(tmp_path / 'r.pth'), 'params_ema')
    with pytest.raises(KeyError, match='num_block'):
        encoder.load_rrdbnet(str(tmp_path / 'r.pth'))
