"""``OnnxUpsampler``: SRDDGAN sampled with ONNX Runtime and numpy alone (no torch), from the graphs that
``srddgan-export --onnx`` writes (``srddgan_arch.inference.onnx_export``), with the interface of the torch backend's
``SRDDGANer`` (``upsample_tensor``, ``enhance``, ``tile``, ``tile_pad``, ``scale``, ``schedule``, ``project``).

The sampler is Algorithm 2 as ``srddgan_arch.diffusion.sample`` runs it, line for line, and draws its numbers as the
torch backend does on the CPU (``torch_random``): the same seed gives the same image.
"""
import json
import secrets
from os import path as osp
from typing import NamedTuple

import numpy as np

from srddgan_runtime.projection import project_to_lr
from srddgan_runtime.tiles import blend_tiles
from srddgan_runtime.torch_random import TorchCPUGenerator

MANIFEST = 'srddgan_onnx.json'
MANIFEST_FORMAT = 'srddgan-onnx/1'
DOWNSAMPLERS = ('none', 'bicubic')


class Schedule(NamedTuple):
    """The numbers of the posterior q(y_{t-1} | y_t, y0) the sampler needs, index t = 0..T (Eqs. 16-18).

    Args:
        num_timesteps (int): T.
        posterior_mean_coef1 (ndarray): float32 (T + 1,): coefficient of y0 in the posterior mean.
        posterior_mean_coef2 (ndarray): float32 (T + 1,): coefficient of y_t.
        posterior_log_variance_clipped (ndarray): float32 (T + 1,): log of the posterior variance (floored).
    """

    num_timesteps: int
    posterior_mean_coef1: np.ndarray
    posterior_mean_coef2: np.ndarray
    posterior_log_variance_clipped: np.ndarray

    @classmethod
    def from_dict(cls, values):
        """The schedule of a manifest (or of any object with these names, e.g. a torch ``DiffusionSchedule``)."""
        get = values.get if isinstance(values, dict) else lambda name: getattr(values, name)
        arrays = [np.asarray(get(name), dtype=np.float32) for name in cls._fields[1:]]
        return cls(int(get('num_timesteps')), *arrays)


class LRConsistency(NamedTuple):
    """The sampler's LR consistency: ``downsampler`` 'bicubic' or 'none', projections alternated with clipping."""

    downsampler: str = 'none'
    iterations: int = 3


def read_manifest(onnx_dir):
    """The manifest of an export folder, checked.

    Args:
        onnx_dir (str): Folder written by ``srddgan-export --onnx``.

    Returns:
        dict: The manifest (graph file names resolved to paths).
    """
    path = osp.join(onnx_dir, MANIFEST)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{onnx_dir} holds no {MANIFEST}: export the model with srddgan-export --onnx.')
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get('format') != MANIFEST_FORMAT:
        raise ValueError(f'{path}: format {manifest.get("format")!r}, expected {MANIFEST_FORMAT!r}; export again.')
    for graph in ('encoder', 'step'):
        if manifest[graph] is not None:
            manifest[graph] = osp.join(onnx_dir, manifest[graph])
            if not osp.isfile(manifest[graph]):
                raise FileNotFoundError(f'{path} names {manifest[graph]}, which does not exist; export again.')
    return manifest


def sample(step, encode, lq, schedule, z, rng, out_channels, scale, project=None):
    """Algorithm 2: T-step inference y_T -> y_0 with a generator that predicts y0 (``diffusion.sample`` in numpy).

    Args:
        step (callable): ``step(y_t, lq, t, z, lr_feats) -> y0'`` (the exported generator step).
        encode (callable | None): ``encode(lq) -> lr_feats`` (the exported LR encoder), once per image.
        lq (ndarray): LR images (B, C, h, w) in [-1, 1], float32.
        schedule (Schedule): The posterior's numbers.
        z (ndarray): Latent codes (B, z_dim), one per image for all steps.
        rng (TorchCPUGenerator): Draws y_T and the posterior noise.
        out_channels (int): Channels of y0.
        scale (int): HR size = LR size * scale.
        project (callable | None): ``project(y0, lq) -> y0`` applied to every prediction. Default: None.

    Returns:
        ndarray: SR images y_0 (B, out_channels, h * scale, w * scale) in [-1, 1].
    """
    lr_feats = encode(lq) if encode is not None else None
    hr_shape = (lq.shape[0], out_channels, lq.shape[2] * scale, lq.shape[3] * scale)
    y_t = rng.randn(*hr_shape)
    for t in range(schedule.num_timesteps, 0, -1):
        y0_pred = step(y_t, lq, np.full(lq.shape[0], t, dtype=np.int64), z, lr_feats)
        if project is not None:
            y0_pred = project(y0_pred, lq)
        noise = rng.randn(*hr_shape)
        mean = schedule.posterior_mean_coef1[t] * y0_pred + schedule.posterior_mean_coef2[t] * y_t
        y_t = mean + np.float32(t != 1) * np.exp(np.float32(0.5) * schedule.posterior_log_variance_clipped[t]) * noise
    return y_t


class OnnxUpsampler:
    """SRDDGAN upsampler on ONNX Runtime: exported LR encoder and generator step, numpy sampler, tiles and projection.

    Args:
        onnx_dir (str): Folder written by ``srddgan-export --onnx`` (graphs and ``srddgan_onnx.json``).
        schedule (Schedule | None): The schedule to sample with. Default: None (the trained one, from the manifest).
        tile (int): Tile size in LR pixels, 0 for no tiling. Default: 0.
        tile_pad (int): LR pixels of overlap context on each inner side of a tile. Default: 10.
        lr_consistency (LRConsistency | None): LR-consistent output. Default: None (the option file's, from the
            manifest).
        providers (list[str] | None): ONNX Runtime execution providers. Default: None (CPU).
        threads (int | None): ONNX Runtime intra-op threads. Default: None (ONNX Runtime's choice).
    """

    def __init__(self, onnx_dir, schedule=None, tile=0, tile_pad=10, lr_consistency=None, providers=None,
                 threads=None):
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError('The ONNX Runtime backend needs onnxruntime: pip install "srddgan[onnx]".') from error
        manifest = read_manifest(onnx_dir)
        self.onnx_dir = onnx_dir
        self.scale, self.z_dim, self.out_channels = manifest['scale'], manifest['z_dim'], manifest['out_channels']
        self.lr_multiple = manifest['lr_multiple']
        self.schedule = schedule or Schedule.from_dict(manifest['schedule'])
        self.tile, self.tile_pad = tile, tile_pad
        self.lr_consistency = lr_consistency or LRConsistency(**manifest['lr_consistency'])
        if self.lr_consistency.downsampler not in DOWNSAMPLERS:
            raise ValueError(f'LR consistency: downsampler must be one of {", ".join(DOWNSAMPLERS)}, got '
                             f'{self.lr_consistency.downsampler!r}.')
        self.project = None
        if self.lr_consistency.downsampler == 'bicubic':
            self.project = lambda y0, lq: project_to_lr(y0, lq, self.scale, self.lr_consistency.iterations)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = providers or ['CPUExecutionProvider']
        self.step_session = onnxruntime.InferenceSession(manifest['step'], options, providers=providers)
        self.encoder_session = None
        if manifest['encoder'] is not None:
            self.encoder_session = onnxruntime.InferenceSession(manifest['encoder'], options, providers=providers)

    def _step(self, y_t, lq, t, z, lr_feats):
        feeds = dict(y_t=y_t, lq=lq, t=t, z=z)
        if lr_feats is not None:
            feeds['lr_feats'] = lr_feats
        return self.step_session.run(None, feeds)[0]

    def _encode(self, lq):
        return self.encoder_session.run(None, dict(lq=lq))[0]

    def _run(self, lq, z, rng):
        """Upsample one LR array (B, C, h, w) in [0, 1] to [0, 1], padding it to ``lr_multiple`` (replicate)."""
        height, width = lq.shape[2:]
        pad_h, pad_w = (-height) % self.lr_multiple, (-width) % self.lr_multiple
        if pad_h or pad_w:
            lq = np.pad(lq, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode='edge')
        lq = np.ascontiguousarray(lq * 2 - 1, dtype=np.float32)
        out = sample(self._step, self._encode if self.encoder_session else None, lq, self.schedule, z, rng,
                     self.out_channels, self.scale, self.project)
        return np.clip((out[:, :, :height * self.scale, :width * self.scale] + 1) / 2, 0, 1)

    def upsample_array(self, lq, seed=None, progress=False):
        """Super-resolve LR images (B, C, H, W) in [0, 1]; z is drawn once per image and shared by its tiles.

        Args:
            lq (ndarray): LR images in [0, 1].
            seed (int | None): Seed of z, y_T and the posterior noise, drawn as torch's CPU generator draws them
                (same seed, same image as the torch backend on the CPU). Default: None (a random seed).
            progress (bool): Progress bar over the tiles. Default: False.

        Returns:
            ndarray: SR images (B, C, H * scale, W * scale) in [0, 1], float32.
        """
        lq = np.asarray(lq, dtype=np.float32)
        rng = TorchCPUGenerator(secrets.randbits(64) if seed is None else seed)
        z = rng.randn(lq.shape[0], self.z_dim)
        height, width = lq.shape[2:]
        if self.tile <= 0 or (height <= self.tile and width <= self.tile):
            out = self._run(lq, z, rng)
        else:
            out = blend_tiles(lambda top, bottom, left, right: self._run(lq[:, :, top:bottom, left:right], z, rng),
                              lq.shape, self.scale, self.tile, self.tile_pad, progress)
        if self.project is not None:
            out = np.clip(project_to_lr(out, lq, self.scale, self.lr_consistency.iterations, (0, 1)), 0, 1)
        return out

    def upsample_tensor(self, lq, seed=None, progress=False):
        """:meth:`upsample_array` for a torch tensor (the torch backend's interface; needs torch).

        Args:
            lq (Tensor): LR images (B, C, H, W) in [0, 1].
            seed (int | None): Sampling seed. Default: None.
            progress (bool): Progress bar over the tiles. Default: False.

        Returns:
            Tensor: SR images (B, C, H * scale, W * scale) in [0, 1], float32, on the CPU.
        """
        import torch

        return torch.from_numpy(self.upsample_array(lq.float().cpu().numpy(), seed, progress))

    def enhance(self, img, seed=None, progress=False):
        """Super-resolve a float BGR image (H, W, 3) in [0, 1]; returns the BGR SR image in [0, 1], float32.

        Args:
            img (ndarray): LR image, BGR, float in [0, 1].
            seed (int | None): Sampling seed. Default: None.
            progress (bool): Progress bar over the tiles. Default: False.
        """
        lq = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))[None]
        out = self.upsample_array(lq, seed=seed, progress=progress)[0]
        return np.ascontiguousarray(out.transpose(1, 2, 0)[:, :, ::-1])
