"""ONNX export of an SRDDGAN generator (``srddgan-export --onnx``; ``srddgan-infer --backend onnxruntime`` exports
through it, see ``onnx_backend.py``).

Two graphs, batch, height and width dynamic (opset 18, run by ONNX Runtime's CPU provider), float32:

- ``encoder.onnx`` (only with ``network_g.lr_encoder``): input ``lq`` (B, C, h, w), the LR image in [-1, 1], h and w
  multiples of ``lr_multiple``; output ``lr_feats`` (B, num_feat, h * scale, w * scale), the LR encoder's features at
  HR size (``SRDDGANUNet.encode_lr``), computed once per image.
- ``step.onnx``: one generator call G(y_t, x, t, z): inputs ``y_t`` (B, C, H, W) float32, the noisy image in
  [-1, 1], H = h * scale, W = w * scale; ``lq`` (B, C, h, w); ``t`` (B,) int64, the step in 1..T; ``z`` (B, z_dim)
  float32; ``lr_feats`` (with the encoder) from ``encoder.onnx``; output ``y0`` (B, C, H, W), the predicted clean
  image in [-1, 1].

``srddgan_onnx.json`` beside them holds what the numpy sampler (``srddgan_runtime.OnnxUpsampler``) needs: scale,
z_dim, channels, ``lr_multiple``, the trained schedule's posterior numbers and the option file's LR consistency.
"""
import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from os import path as osp

import torch

from srddgan_arch.diffusion import DiffusionSchedule
from srddgan_arch.inference.loading import is_diffusion_network, load_option_file, load_trained_network
from srddgan_arch.utils.padding import lr_multiple
from srddgan_runtime import Schedule
from srddgan_runtime.upsampler import MANIFEST, MANIFEST_FORMAT

OPSET = 18
# the example sizes the graphs are traced with, in multiples of lr_multiple (any size runs)
_EXAMPLE_BATCH, _EXAMPLE_LR = 2, (2, 3)


class _Encoder(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, lq):
        return self.net.encode_lr(lq)


class _Step(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, y_t, lq, t, z, lr_feats=None):
        return self.net(y_t, lq, t, z, lr_feats=lr_feats)


def _in_channels(net):
    """Channels of the LR image (and of y_t): the first conv sees both when the LR is concatenated."""
    return net.conv_in.in_channels // (2 if net.lr_concat else 1)


def _export_graph(module, args, names, dynamic_shapes, output_name, path):
    program = torch.onnx.export(module.eval(), args, dynamo=True, dynamic_shapes=dynamic_shapes, input_names=names,
                                output_names=[output_name], opset_version=OPSET, verbose=False)
    program.save(path, external_data=False)


def _write_graphs(net, folder):
    """Export ``encoder.onnx`` (when the generator has an encoder) and ``step.onnx`` into ``folder``."""
    multiple, scale = lr_multiple(net, net.scale), net.scale
    batch = torch.export.Dim('batch', min=1, max=4096)
    lr_h, lr_w = torch.export.Dim('lr_h_blocks', min=1, max=8192), torch.export.Dim('lr_w_blocks', min=1, max=8192)
    lr_dims = {0: batch, 2: lr_h * multiple, 3: lr_w * multiple}
    hr_dims = {0: batch, 2: lr_h * (multiple * scale), 3: lr_w * (multiple * scale)}
    height, width = (size * multiple for size in _EXAMPLE_LR)
    lq = torch.rand(_EXAMPLE_BATCH, _in_channels(net), height, width) * 2 - 1
    y_t = torch.randn(_EXAMPLE_BATCH, net.out_channels, height * scale, width * scale)
    t = torch.full((_EXAMPLE_BATCH,), 1, dtype=torch.long)
    z = torch.randn(_EXAMPLE_BATCH, net.z_dim)
    inputs = dict(y_t=y_t, lq=lq, t=t, z=z)
    shapes = dict(y_t=hr_dims, lq=lr_dims, t={0: batch}, z={0: batch})
    with torch.no_grad():
        if net.encoder is not None:
            _export_graph(_Encoder(net), (lq,), ['lq'], {'lq': lr_dims}, 'lr_feats', osp.join(folder, 'encoder.onnx'))
            inputs['lr_feats'], shapes['lr_feats'] = net.encode_lr(lq), hr_dims
        _export_graph(_Step(net), tuple(inputs.values()), list(inputs), shapes, 'y0', osp.join(folder, 'step.onnx'))


def export_key(network_opt, model_path, param_key, interpolate=None, alpha=None):
    """What identifies an export: the network definition, the checkpoints' content (with ``interpolate``, the second
    one's and ``alpha`` too), the weights' key, the format.

    Returns:
        str: 16 hexadecimal digits.
    """
    interpolation = None if interpolate is None else alpha
    digest = hashlib.sha256(json.dumps(dict(network_g=network_opt, param_key=param_key, format=MANIFEST_FORMAT,
                                            opset=OPSET, interpolation=interpolation), sort_keys=True,
                                       default=str).encode())
    for path in (model_path, interpolate):
        if path is None:
            continue
        with open(path, 'rb') as f:
            for block in iter(lambda f=f: f.read(1 << 20), b''):
                digest.update(block)
    return digest.hexdigest()[:16]


def export_onnx(opt, model_path, output_dir, param_key='params_ema', interpolate=None, alpha=0.5):
    """Export an SRDDGAN generator's LR encoder and one generator step to ONNX (see the module docstring).

    The graphs are written into a temporary folder beside ``output_dir`` and renamed to it, so ``output_dir`` holds a
    complete export or nothing.

    Args:
        opt (str): Option file with ``network_g`` (and ``diffusion``, ``lr_consistency``) sections.
        model_path (str): The generator's BasicSR checkpoint.
        output_dir (str): The folder to write (must not exist, or be empty).
        param_key (str): Key of the weights in the checkpoint. Default: 'params_ema'.
        interpolate (str | None): A second checkpoint of the same network: the exported weights are ``(1 - alpha) *
            model_path's + alpha * interpolate's`` (``srddgan-infer --interpolate``). Default: None.
        alpha (float): The second checkpoint's weight. Default: 0.5.

    Returns:
        str: ``output_dir``.
    """
    for module in ('onnx', 'onnxscript'):  # torch.onnx's exporter needs both
        if importlib.util.find_spec(module) is None:
            raise ImportError(f'The ONNX export needs {module}: pip install "srddgan[onnx]".')
    network_opt, diffusion, consistency = load_option_file(opt)
    if osp.isdir(output_dir) and os.listdir(output_dir):
        raise FileExistsError(f'-o: {output_dir} is not empty; give a new or empty folder for the ONNX export.')
    net, trained = load_trained_network(network_opt, model_path, param_key, f'network_g of {opt}', interpolate, alpha)
    if not is_diffusion_network(net):
        raise ValueError(f'{opt}: network_g {network_opt["type"]} is not an SRDDGAN generator; only those export.')
    schedule = DiffusionSchedule(**(trained or dataclasses.asdict(diffusion)))
    parent = osp.dirname(osp.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{osp.basename(output_dir)}.', dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's folder is private; the export is not
    try:
        _write_graphs(net, staging)
        key = export_key(network_opt, model_path, param_key, interpolate, alpha)
        manifest = dict(format=MANIFEST_FORMAT, key=key, opset=OPSET,
                        scale=net.scale, in_channels=_in_channels(net), out_channels=net.out_channels, z_dim=net.z_dim,
                        lr_multiple=lr_multiple(net, net.scale),
                        encoder='encoder.onnx' if net.encoder is not None else None,
                        step='step.onnx', schedule=_schedule_numbers(schedule),
                        lr_consistency=dict(downsampler=consistency.downsampler, iterations=consistency.iterations),
                        source=dict(opt=osp.abspath(opt), model_path=osp.abspath(model_path), param_key=param_key,
                                    interpolate=interpolate and osp.abspath(interpolate), alpha=alpha))
        with open(osp.join(staging, MANIFEST), 'w') as f:
            json.dump(manifest, f, indent=1)
        if osp.isdir(output_dir):
            os.rmdir(output_dir)
        os.rename(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


def _schedule_numbers(schedule):
    """A DiffusionSchedule's settings and the posterior numbers the numpy sampler reads (float32 values)."""
    numbers = schedule.settings()
    for name in Schedule._fields[1:]:
        numbers[name] = getattr(schedule, name).tolist()
    return numbers
