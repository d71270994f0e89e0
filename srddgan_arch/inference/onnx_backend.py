"""``srddgan-infer --backend onnxruntime``: the ONNX Runtime twin of the torch upsampler (``srddgan_runtime``), with
the generator exported once (``onnx_export.py``) into ``--onnx_dir`` or torch.hub's cache folder."""
from os import path as osp

import torch

from srddgan_arch.inference.loading import load_option_file
from srddgan_arch.inference.onnx_export import export_key, export_onnx
from srddgan_arch.utils.checkpoint import fetch_weights, is_url
from srddgan_runtime import LRConsistency, OnnxUpsampler, Schedule
from srddgan_runtime.upsampler import MANIFEST, read_manifest


def onnx_cache_dir():
    """Where ``srddgan-infer --backend onnxruntime`` keeps its exports: ``<torch.hub's folder>/srddgan_onnx``."""
    return osp.join(torch.hub.get_dir(), 'srddgan_onnx')


def onnx_argument_error(args):
    """What ``--backend onnxruntime`` cannot do with these ``srddgan-infer`` arguments, or None."""
    torch_only = dict(face=args.face, channels_last=args.channels_last, compile=args.compile,
                      bf16=args.precision == 'bf16', fp16=args.precision == 'fp16',
                      color_fix=args.color_fix not in (None, 'none'))
    given = [f'--{name}' for name, value in torch_only.items() if value]
    if args.device not in (None, 'cpu'):
        given.append(f'--device {args.device}')
    if given:
        return f'--backend onnxruntime runs SRDDGAN in fp32 on the CPU: {", ".join(given)} needs --backend torch.'
    return None


def _export_folder(args, inputs, key):
    """``--onnx_dir`` (never the output folder or an input's folder), else the cache folder of this export."""
    if not args.onnx_dir:
        return osp.join(onnx_cache_dir(), key)
    onnx_dir = osp.realpath(args.onnx_dir)
    if onnx_dir in {osp.realpath(args.output)} | {osp.dirname(osp.realpath(path)) for path in inputs}:
        raise ValueError(f'--onnx_dir {args.onnx_dir} is the output folder or an input folder; give a folder of its '
                         'own (or none: the cache).')
    return args.onnx_dir


def build_onnx_upsampler(upsampler, args, inputs=()):
    """The ONNX Runtime twin of a torch :class:`SRDDGANer`: same schedule, tiles and LR consistency; the graphs found
    in, or exported once to, ``--onnx_dir`` or torch.hub's cache folder.

    Args:
        upsampler (SRDDGANer): The torch upsampler built from ``args.opt`` and ``args.model_path``.
        args (Namespace): ``srddgan-infer``'s arguments (``opt``, ``model_path``, ``model``: the model choice, whose
            interpolation is exported too, ``onnx_dir``, ``output``).
        inputs (list[str]): The input files (the export never goes beside them). Default: ().

    Returns:
        OnnxUpsampler: The upsampler.
    """
    if not upsampler.diffusion:
        raise ValueError('--backend onnxruntime runs SRDDGAN generators; this network_g is a plain SR network.')
    model = args.model
    # addresses are read from their downloads (the torch upsampler fetched them into the cache already)
    model_path, interpolate = (fetch_weights(path, what) if path is not None and is_url(path) else path
                               for path, what in ((args.model_path, 'Model weights (--model_path)'),
                                                  (model.interpolate, 'Weights to interpolate (--interpolate)')))
    key = export_key(load_option_file(args.opt).network_g, model_path, model.param_key, interpolate, model.alpha)
    onnx_dir = _export_folder(args, inputs, key)
    if not osp.isfile(osp.join(onnx_dir, MANIFEST)):
        export_onnx(args.opt, model_path, onnx_dir, model.param_key, interpolate, model.alpha)
    elif read_manifest(onnx_dir)['key'] != key:
        raise ValueError(f'--onnx_dir {args.onnx_dir} holds the export of another model or checkpoint; give another '
                         'folder (or none: the cache).')
    consistency = LRConsistency(upsampler.lr_consistency.downsampler, upsampler.lr_consistency.iterations)
    return OnnxUpsampler(onnx_dir, schedule=Schedule.from_dict(upsampler.schedule.to('cpu')), tile=upsampler.tile,
                         tile_pad=upsampler.tile_pad, lr_consistency=consistency)
