"""Tests of srddgan_arch.inference: seamless tiling, the upsampler, image modes through it, the memory estimate, LR
consistency, face mode and content fusion (the command line: test_inference_cli.py)."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_RRDB, BicubicNet, bicubic, photo_like_lq, write_tiny_rrdb
from torch import nn

from srddgan_arch.commands.infer import main
from srddgan_arch.data.image_io import read_image, write_image
from srddgan_arch.diffusion import DiffusionSchedule
from srddgan_arch.inference.faces import FACE_DETECTOR_FILES, FACE_PARSER_FILE, build_face_helper, restore_faces
from srddgan_arch.inference.loading import build_network
from srddgan_arch.inference.memory import MemoryGuard, PeakMemory
from srddgan_arch.inference.tiling import tile_upsample
from srddgan_arch.inference.upsampler import SRDDGANer, upsample_image
from srddgan_arch.lr_consistency import LRConsistencyOptions, bicubic_downscale
from srddgan_tools.fusion import content_fusion


class ToyDiffusionNet(nn.Module):
    """Stand-in SRDDGAN generator: y0' = tanh(bicubic(lq) + 0.1 y_t + z-dependent shift)."""

    z_dim, scale, out_channels = 4, 2, 3

    def __init__(self):
        super().__init__()
        self.encoded = 0

    def encode_lr(self, lq):
        self.encoded += 1
        return None

    def forward(self, y_t, lq, t, z, lr_feats=None):
        return torch.tanh(bicubic(self.scale)(lq) + 0.1 * y_t + 0.1 * z.mean(1).view(-1, 1, 1, 1))


@pytest.mark.parametrize('tile,tile_pad', [(16, 4), (20, 6), (13, 8)])
def test_tiled_equals_untiled(tile, tile_pad):
    """With a local upsampler, tiled output equals the whole-image output everywhere (seamless blending)."""
    img = torch.rand(1, 3, 45, 70)
    whole = bicubic(4)(img)
    tiled = tile_upsample(bicubic(4), img, 4, tile=tile, tile_pad=tile_pad)
    assert tiled.shape == whole.shape
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_tiles_blend_without_seam():
    """Tile-dependent outputs (like per-tile noise) are blended: no jump at tile borders, unlike plain stitching."""
    counter = iter(range(1000))

    def offset_per_tile(x):
        return bicubic(2)(x) * 0 + next(counter) % 2  # 0 and 1 alternate between tiles

    img = torch.zeros(1, 1, 32, 64)
    blended = tile_upsample(offset_per_tile, img, 2, tile=16, tile_pad=8)
    stitched = tile_upsample(offset_per_tile, img, 2, tile=16, tile_pad=0)
    assert stitched[..., 1:].sub(stitched[..., :-1]).abs().max() == 1
    assert blended[..., 1:].sub(blended[..., :-1]).abs().max() <= 1 / 16 + 1e-6


def test_upsample_image_keeps_mode(tmp_path):
    """A 16-bit RGBA image comes out 16-bit RGBA at the model scale, alpha upscaled separately."""
    raw = np.zeros((16, 16, 4), np.uint16)
    raw[..., :3], raw[..., 3] = 30000, 65535
    raw[4:8, 4:8, 3] = 0
    cv2.imwrite(str(tmp_path / 'in.png'), raw)
    out = upsample_image(SRDDGANer(BicubicNet(2), device='cpu'), read_image(str(tmp_path / 'in.png')))
    write_image(str(tmp_path / 'out.png'), *out)
    back = cv2.imread(str(tmp_path / 'out.png'), cv2.IMREAD_UNCHANGED)
    assert back.shape == (32, 32, 4) and back.dtype == np.uint16
    assert abs(int(back[0, 0, 0]) - 30000) <= 1 and back[12, 12, 3] == 0 and back[0, 0, 3] == 65535


def test_diffusion_upsampler_seeded_and_padded():
    """Diffusion sampling: same seed -> same image, other seed differs, odd sizes padded and cropped back."""
    net = ToyDiffusionNet()
    upsampler = SRDDGANer(net, device='cpu', lr_multiple=8)
    img = np.random.default_rng(0).random((13, 11, 3)).astype(np.float32)
    first, again, other = (upsampler.enhance(img, seed=s) for s in (1, 1, 2))
    assert first.shape == (26, 22, 3) and 0 <= first.min() and first.max() <= 1
    assert np.array_equal(first, again) and not np.allclose(first, other)
    assert net.encoded == 3  # the LR encoder runs once per image, not once per step


def test_tiled_diffusion_has_no_seam():
    """Tiled diffusion sampling: the jump across the tile border is no larger than between any other columns."""
    img = np.full((32, 32, 3), 0.5, np.float32)
    tiled = SRDDGANer(ToyDiffusionNet(), device='cpu', tile=16, tile_pad=4).enhance(img, seed=0)
    column_jumps = np.abs(np.diff(tiled, axis=1)).mean(axis=(0, 2))
    assert column_jumps[31] <= 1.5 * np.median(column_jumps)  # HR columns 31 | 32 straddle the LR tile border 16


def test_peak_memory_counts_the_tensors_alive_at_once():
    """The tracker adds new tensors, not views or in-place results, and subtracts freed ones."""
    with PeakMemory() as tracker:
        a = torch.ones(1000, device='meta')
        b = a.view(10, 100).add_(1)
        c = a * 2
        del a, b, c
        torch.ones(500, device='meta')
    assert tracker.peak == 8000 and tracker.live == 0


def test_memory_estimate_grows_with_the_block_and_tiles_bound_it():
    """The network's estimate grows with the LR block (4x pixels, at least 4x bytes); with tiles it is that of one
    tile with its context, whatever the image size."""
    guard = MemoryGuard(SRDDGANer(build_network(TINY_RRDB), device='cpu', tile=32, tile_pad=4))
    small, large = guard.need(32, 32, 0)[0], guard.need(64, 64, 0)[0]
    assert small > 0 and large >= 4 * small * 0.99
    assert guard.need(400, 300, 32)[0] == guard.need(40, 40, 0)[0]


def test_memory_estimate_counts_the_lr_projection_apart():
    """An LR-consistent upsampler's projection of the whole output (host matrices and temporaries) is added to the
    result's share; the meta run of the network leaves it out (it would build the matrices for real)."""
    net = build_network(TINY_RRDB)
    plain = MemoryGuard(SRDDGANer(net, device='cpu'))
    consistent = MemoryGuard(SRDDGANer(net, device='cpu', lr_consistency=LRConsistencyOptions(downsampler='bicubic')))
    assert consistent.meta.project is None
    (network, host), (network_lrc, host_lrc) = plain.need(256, 256, 0), consistent.need(256, 256, 0)
    assert network_lrc == network and host_lrc > host



@pytest.mark.parametrize('net, tile', [(ToyDiffusionNet(), 0), (ToyDiffusionNet(), 10), (BicubicNet(2), 10)])
def test_lr_consistent_output_untiled_and_tiled(net, tile):
    """With lr_consistency, the output of a diffusion or a plain network, whole or in blended tiles, downscales to
    the LR input within 0.5/255; without, it does not."""
    lq = photo_like_lq()
    for downsampler in ('bicubic', 'none'):
        consistency = LRConsistencyOptions(downsampler=downsampler)
        upsampler = SRDDGANer(net, schedule=DiffusionSchedule(2), tile=tile, tile_pad=4, device='cpu',
                              lr_consistency=consistency)
        error = (bicubic_downscale(upsampler.upsample_tensor(lq, seed=0), 2) - lq).abs().max() * 255
        assert (error < 0.5) == (downsampler == 'bicubic')


def test_build_network_loads_params(tmp_path):
    """A BasicSR checkpoint (params_ema, else params) is loaded; a missing file names --model_path."""
    net = build_network(TINY_RRDB)
    torch.save({'params': net.state_dict()}, tmp_path / 'net.pth')
    loaded = build_network(TINY_RRDB, str(tmp_path / 'net.pth'))
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(loaded(x), net(x))
    with pytest.raises(FileNotFoundError, match='--model_path'):
        build_network(TINY_RRDB, str(tmp_path / 'missing.pth'))


def test_face_helper_without_weights_names_files(tmp_path):
    """Face mode without the facexlib weights raises an error naming the files and the folder."""
    with pytest.raises(FileNotFoundError, match=f'{FACE_DETECTOR_FILES["retinaface_resnet50"]}.*{FACE_PARSER_FILE}'):
        build_face_helper(4, model_rootpath=str(tmp_path))


@pytest.fixture(scope='module')
def face_weights_dir(tmp_path_factory):
    """A folder with randomly initialised facexlib detector (mobile0.25) and parser weights, as in its cache."""
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.parsenet import ParseNet
    folder = tmp_path_factory.mktemp('facexlib')
    torch.save(RetinaFace(network_name='mobile0.25', device='cpu').state_dict(),
               folder / FACE_DETECTOR_FILES['retinaface_mobile0.25'])
    torch.save(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), folder / FACE_PARSER_FILE)
    return str(folder)


def test_face_mode_with_given_landmarks(face_weights_dir):
    """Given landmarks (no detection), each aligned face is restored by the x8 model and pasted on the background."""
    helper = build_face_helper(2, face_size=128, det_model='retinaface_mobile0.25', model_rootpath=face_weights_dir)
    img = np.full((96, 96, 3), 120, np.uint8)
    landmarks = [[[40, 42], [56, 42], [48, 50], [42, 58], [54, 58]]]
    restored, num_faces = restore_faces(SRDDGANer(BicubicNet(8), device='cpu'), helper, img, landmarks=landmarks)
    assert num_faces == 1 and restored.shape == (192, 192, 3) and restored.dtype == np.uint8
    assert np.abs(restored.astype(int) - 120).max() <= 2  # a flat face restored flat, pasted without visible seam


def test_cli_face_mode(tmp_path, face_weights_dir):
    """``--face`` with a landmarks file writes the restored photo at the requested scale."""
    face_opt = tmp_path / 'face.yml'
    face_opt.write_text(yaml.safe_dump({'network_g': dict(TINY_RRDB, scale=8)}))
    torch.save({'params': build_network(dict(TINY_RRDB, scale=8)).state_dict()}, tmp_path / 'face.pth')
    cv2.imwrite(str(tmp_path / 'photo.png'), np.full((64, 64, 3), 90, np.uint8))
    marks = {'photo.png': [[[24, 26], [40, 26], [32, 34], [26, 42], [38, 42]]]}
    (tmp_path / 'marks.json').write_text(json.dumps(marks))
    main(['-i', str(tmp_path / 'photo.png'), '-o', str(tmp_path / 'out'), '--face', '--face_opt', str(face_opt),
          '--face_model_path', str(tmp_path / 'face.pth'), '--face_det_model', 'retinaface_mobile0.25',
          '--face_weights_dir', face_weights_dir, '--face_landmarks', str(tmp_path / 'marks.json'), '-s', '2',
          '--device', 'cpu'])
    assert cv2.imread(str(tmp_path / 'out' / 'photo_srddgan.png')).shape == (128, 128, 3)


def test_content_fusion_keeps_source_outside_region():
    """Fusion: the composite carries the target region, results keep the source outside it, one per z sample."""
    rng = np.random.default_rng(0)
    source, target = rng.random((32, 32, 3)).astype(np.float32), rng.random((32, 32, 3)).astype(np.float32)
    result = content_fusion(SRDDGANer(ToyDiffusionNet(), device='cpu'), source, target, (8, 4, 12, 10), num_samples=3)
    assert np.array_equal(result['composite'][4:14, 8:20], target[4:14, 8:20])
    assert result['lq'].shape == (16, 16, 3) and len(result['samples']) == len(result['fused']) == 3
    for fused, sr in zip(result['fused'], result['samples'], strict=True):
        outside = np.ones((32, 32), bool)
        outside[4:14, 8:20] = False
        assert np.array_equal(fused[outside], source[outside]) and np.array_equal(fused[4:14, 8:20], sr[4:14, 8:20])
    assert not np.allclose(result['samples'][0], result['samples'][1])
    with pytest.raises(ValueError, match='box'):
        content_fusion(SRDDGANer(BicubicNet(2), device='cpu'), source, target, (30, 0, 8, 8))


def test_content_fusion_script_writes_images(tmp_path):
    """scripts/content_fusion.py writes the composite, the LR and one sample and fused image per z; a rerun into
    the same folder is refused before any work unless --overwrite."""
    import importlib.util
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'scripts', 'content_fusion.py')
    spec = importlib.util.spec_from_file_location('content_fusion_script', script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    opt_path, model_path = write_tiny_rrdb(tmp_path)
    for name in ('a', 'b'):
        cv2.imwrite(str(tmp_path / f'{name}.png'), np.random.default_rng(ord(name)).integers(0, 255, (32, 32, 3),
                                                                                             dtype=np.uint8))
    argv = ['--source', str(tmp_path / 'a.png'), '--target', str(tmp_path / 'b.png'), '--box', '8,8,8,8', '-opt',
            opt_path, '--model_path', model_path, '--num_samples', '2', '--device', 'cpu', '-o',
            str(tmp_path / 'fusion')]
    module.main(argv)
    assert sorted(os.listdir(tmp_path / 'fusion')) == ['composite.png', 'fused_0.png', 'fused_1.png', 'lq.png',
                                                        'sample_0.png', 'sample_1.png']
    with pytest.raises(SystemExit):  # a rerun replaces nothing unless told
        module.main(argv)
    module.main([*argv, '--overwrite'])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='the model on a CUDA device')
@pytest.mark.parametrize('tile, projected_on', [(0, 'cuda'), (10, 'cpu')])
def test_final_projection_runs_where_the_output_is(monkeypatch, tile, projected_on):
    """An output made in one piece is projected on the model's device (no copy to the CPU first); tiles blended on
    the CPU are projected there. The result is on the CPU either way."""
    upsampler = SRDDGANer(BicubicNet(2), tile=tile, tile_pad=4, device='cuda',
                          lr_consistency=LRConsistencyOptions(downsampler='bicubic'))
    devices, project = [], upsampler.project
    upsampler.project = lambda img, lq, **kwargs: devices.append((img.device.type, lq.device.type)) or project(
        img, lq, **kwargs)
    out = upsampler.upsample_tensor(photo_like_lq())
    assert devices == [(projected_on, projected_on)] and out.device.type == 'cpu'
