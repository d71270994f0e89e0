"""``srddgan-infer --backend onnxruntime``: the ONNX Runtime twin of the torch upsampler (``srddgan_runtime``), with
the generator exported once (``onnx_export.py``) into ``--onnx_dir`` or torch.hub's cache folder."""
from collections.abc import Sequence
from os import path as osp
from typing import NamedTuple

import torch

from srddgan_arch.inference.loading import load_option_file
from srddgan_arch.inference.onnx_export import export_key, export_onnx
from srddgan_arch.inference.upsampler import build_upsampler
from srddgan_arch.utils.checkpoint import fetch_weights, is_url
from srddgan_runtime import LRConsistency, OnnxUpsampler, Schedule
from srddgan_runtime.upsampler import MANIFEST, read_manifest


def onnx_cache_dir():
    """Where ``srddgan-infer --backend onnxruntime`` keeps its exports: ``<torch.hub's folder>/srddgan_onnx``."""
    return osp.join(torch.hub.get_dir(), 'srddgan_onnx')


def onnx_argument_error(model, run, face=False):
    """What ``--backend onnxruntime`` cannot do with these settings, or None.

    Args:
        model (ModelChoice): The ``-opt`` model's choice.
        run (RunSettings): The run's settings (before the device is resolved: None is the CPU here).
        face (bool): Face mode is asked for. Default: False.

    Returns:
        str | None: The one-line message.
    """
    torch_only = dict(face=face, channels_last=run.channels_last, compile=run.compile,
                      bf16=run.precision == 'bf16', fp16=run.precision == 'fp16', color_fix=model.color_fix != 'none')
    given = [f'--{name}' for name, value in torch_only.items() if value]
    if run.device not in (None, 'cpu'):
        given.append(f'--device {run.device}')
    if given:
        return f'--backend onnxruntime runs SRDDGAN in fp32 on the CPU: {", ".join(given)} needs --backend torch.'
    return None


class OnnxBackend(NamedTuple):
    """``--backend onnxruntime``: an :class:`OnnxUpsampler` with the torch upsampler's schedule, tiles and LR
    consistency; the graphs of the model choice's weights (its interpolation included) found in, or exported once to,
    ``onnx_dir`` or torch.hub's cache folder.

    Args:
        onnx_dir (str | None): The export folder (made when missing). Default: None (the cache folder of the export).
        output (str | None): The run's output folder, where ``onnx_dir`` may not be. Default: None.
        inputs (Sequence[str]): The input files, beside which ``onnx_dir`` may not be. Default: ().
    """

    onnx_dir: str | None = None
    output: str | None = None
    inputs: Sequence = ()

    def build(self, opt, model_path, model, run):
        """The upsampler of an option file and its weights, as the model choice reads them.

        Args:
            opt (str): Option file with ``network_g`` (and ``diffusion``, ``lr_consistency``).
            model_path (str): Checkpoint, ``.safetensors`` file or an http(s) address of either.
            model (ModelChoice): What is read from the checkpoint and how the model samples.
            run (RunSettings): The run's settings (fp32 on the CPU: ``onnx_argument_error``).

        Returns:
            OnnxUpsampler: The upsampler.
        """
        upsampler = build_upsampler(opt, model_path, run.updated(device='cpu'), model)
        if not upsampler.diffusion:
            raise ValueError('--backend onnxruntime runs SRDDGAN generators; this network_g is a plain SR network.')
        # addresses are read from their downloads (the torch upsampler fetched them into the cache already)
        model_path, interpolate = (fetch_weights(path, what) if path is not None and is_url(path) else path
                                   for path, what in ((model_path, 'Model weights (--model_path)'),
                                                      (model.interpolate, 'Weights to interpolate (--interpolate)')))
        key = export_key(load_option_file(opt).network_g, model_path, model.param_key, interpolate, model.alpha)
        onnx_dir = self._export_folder(key)
        if not osp.isfile(osp.join(onnx_dir, MANIFEST)):
            export_onnx(opt, model_path, onnx_dir, model.param_key, interpolate, model.alpha)
        elif read_manifest(onnx_dir)['key'] != key:
            raise ValueError(f'--onnx_dir {self.onnx_dir} holds the export of another model or checkpoint; give '
                             'another folder (or none: the cache).')
        consistency = LRConsistency(upsampler.lr_consistency.downsampler, upsampler.lr_consistency.iterations)
        return OnnxUpsampler(onnx_dir, schedule=Schedule.from_dict(upsampler.schedule.to('cpu')), tile=upsampler.tile,
                             tile_pad=upsampler.tile_pad, lr_consistency=consistency)

    def memory_guard(self, upsampler, run):
        """None: the memory guard measures torch's network, which ONNX Runtime does not run."""
        return None

    def _export_folder(self, key):
        """``onnx_dir`` (never the output folder or an input's folder), else the cache folder of this export."""
        if not self.onnx_dir:
            return osp.join(onnx_cache_dir(), key)
        onnx_dir = osp.realpath(self.onnx_dir)
        if onnx_dir in {osp.realpath(self.output or '')} | {osp.dirname(osp.realpath(path)) for path in self.inputs}:
            raise ValueError(f'--onnx_dir {self.onnx_dir} is the output folder or an input folder; give a folder of '
                             'its own (or none: the cache).')
        return self.onnx_dir
