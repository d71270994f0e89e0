"""``srddgan-infer`` (also ``scripts/inference_srddgan.py``): super-resolve image files or folders.

The command line (``inference/arguments.py``) follows Real-ESRGAN's ``inference_realesrgan.py``; see ``--help`` and
docs/inference.md. Mistakes are one line on stderr and a non-zero exit (the traceback with ``--debug``); an image that
fails is named and skipped, and the run ends with a summary and exit code 1.
"""
import os
import sys
from os import path as osp
from typing import NamedTuple

from tqdm import tqdm

from srddgan_arch.cli_errors import one_line, run_main
from srddgan_arch.data.image_io import write_image
from srddgan_arch.device import keep_freed_memory
from srddgan_arch.inference.arguments import PROG, parse_args
from srddgan_arch.inference.faces import FaceMode, build_face_mode
from srddgan_arch.inference.memory import MemoryGuard
from srddgan_arch.inference.onnx_backend import OnnxBackend
from srddgan_arch.inference.paths import OutputPlan, input_images, read_checked, sample_indices
from srddgan_arch.inference.settings import ModelChoice
from srddgan_arch.inference.upsampler import TorchBackend, upsample_image


class Job(NamedTuple):
    """What ``srddgan-infer`` does to every input, built once from the arguments (``build_job``).

    Args:
        upsampler (SRDDGANer | OnnxUpsampler | None): The ``-opt`` model; in face mode the background's (None:
            Lanczos).
        guard (MemoryGuard | None): The memory guard of ``upsampler`` (None for the ONNX Runtime backend).
        faces (FaceMode | None): Face mode (``faces.py``), or None.
        outscale (float | None): The final scale; None: the model's.
        seeds (range): One seed per sample (``--seed``, ``--num_samples``).
        reduce (str): ``--reduce``: 'none' (a file per sample) or 'mean' (one file, the mean of the samples).
    """

    upsampler: object
    guard: MemoryGuard | None
    faces: FaceMode | None
    outscale: float | None
    seeds: range
    reduce: str


def backend_of(args, inputs=()):
    """The backend ``--backend`` names, with its own settings (the ONNX export folder, never the output's or an
    input's)."""
    if args.backend == 'onnxruntime':
        return OnnxBackend(args.onnx_dir, args.output, inputs)
    return TorchBackend()


def build_job(args, inputs=()):
    """The upsamplers, the memory guard and face mode of parsed arguments: the ``-opt`` model built by the backend
    from its :class:`ModelChoice` (``args.model``), the face model by torch from its own (the defaults: it takes none of
    the ``-opt`` model's choices), both with the run's :class:`RunSettings` (``args.run``).

    Args:
        args (Namespace): From :func:`parse_args`.
        inputs (list[str]): The input files (``--backend onnxruntime`` never exports beside them). Default: ().

    Returns:
        Job: The job.
    """
    backend = backend_of(args, inputs)
    upsampler = backend.build(args.opt, args.model_path, args.model, args.run) if args.opt else None
    guard = backend.memory_guard(upsampler, args.run) if upsampler else None
    faces, outscale = None, args.outscale
    if args.face:
        face_upsampler = TorchBackend().build(args.face_opt, args.face_model_path, ModelChoice(), args.run)
        outscale = outscale or (upsampler or face_upsampler).scale
        faces = build_face_mode(face_upsampler, outscale, args.face_size, args.face_det_model, args.face_weights_dir,
                                args.face_landmarks)
    return Job(upsampler, guard, faces, outscale, range(args.seed, args.seed + args.num_samples), args.reduce)


def _upscale(job, path, image, seed):
    """One sample of one image: the model's, or in face mode the background (model or Lanczos) with the faces."""
    if job.faces is None:
        return upsample_image(job.upsampler, image, job.outscale, seed, progress=job.upsampler.tile > 0)
    background = None
    if job.upsampler is not None:
        background = upsample_image(job.upsampler, image, job.outscale, seed).img
    return job.faces.restore(osp.basename(path), image, background, seed)


def _process(job, outputs, path, stem):
    """Super-resolve one input into its ``--num_samples`` output files (``outputs``: the :class:`OutputPlan`)."""
    image = read_checked(path, job.guard, job.outscale)
    samples = [job.seeds] if job.reduce == 'mean' else job.seeds  # (a range of seeds: the mean of their samples)
    for index, seed in zip(outputs.indices, samples, strict=True):
        target = outputs.path(stem, path, image.needs_png, index)
        write_image(target, *_upscale(job, path, image, seed), overwrite=outputs.overwrite)


def run(args):
    """Everything ``main`` does once the arguments are parsed; returns the exit code."""
    if args.run.device == 'cpu':
        keep_freed_memory()
    inputs = input_images(args.input)
    outputs = OutputPlan(args.output, args.suffix, args.ext, args.overwrite,
                         sample_indices(args.num_samples, args.reduce))
    stems = outputs.stems(inputs)  # every name checked before a model is built
    os.makedirs(outputs.folder, exist_ok=True)
    job = build_job(args, inputs)
    failures, done = [], 0
    for path in tqdm(inputs, desc='images', unit='img'):
        try:
            _process(job, outputs, path, stems[path])
        except KeyboardInterrupt:  # Ctrl-C: what was written, not a traceback
            print(f'{PROG}: interrupted: {done - len(failures)} of {len(inputs)} images written to {outputs.folder}'
                  f'{f", {len(failures)} failed" if failures else ""}; {path} and the rest were not.', file=sys.stderr)
            return 130
        except Exception as error:  # one bad image does not stop the others; --debug stops with the traceback
            if args.debug:
                raise
            failures.append(path)
            tqdm.write(f'{PROG}: skipped {path}: {one_line(error)}', file=sys.stderr)
        done += 1
    if failures:
        print(f'{PROG}: {len(inputs) - len(failures)} of {len(inputs)} images written to {outputs.folder}; '
              f'{len(failures)} failed: {", ".join(failures)}.', file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """``srddgan-infer``: super-resolve an image or a folder; see ``--help``. Returns the exit code: 0, 1 when
    something failed (one line on stderr, the traceback with ``--debug``), 2 for a usage error."""
    # every failure past the arguments is one line here: an image that fails is skipped the same way
    return run_main(lambda arguments: run(parse_args(arguments)), PROG, argv, own_debug=True, mistakes=(Exception,))
