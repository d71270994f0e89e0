"""How inference runs, on two carriers, each default written once:

- :class:`ModelChoice`: what belongs to one model: which weights are read from its checkpoint, the interpolation with a
  second checkpoint, the diffusion steps, the LR consistency of its sampler and the colour fix of its output.
  ``srddgan-infer`` builds one for the ``-opt`` model and one for the face model (which takes none of the main model's
  choices).
- :class:`RunSettings`: what belongs to the run, whatever the model: tiles, precision, device, memory budget, memory
  format, compile.

The command line and the web app build them once (an option left out is None: the default here) and hand them to a
backend (``upsampler.TorchBackend``, ``onnx_backend.OnnxBackend``), whose ``build`` reads both: ``build_upsampler``
reads the model choice and hands the run settings to ``SRDDGANer`` unchanged, and the ONNX Runtime backend exports the
model choice's weights and takes the torch upsampler's schedule, tiles and LR consistency. Scripts and the Python API
pass the same objects, or keyword changes of them (``build_upsampler(opt, path, steps=2, tile=64)``: each keyword goes
to the carrier that declares it).

A new sampler option is a field of :class:`ModelChoice` (here), the flag of the same name in
``inference/arguments.py`` and its use in ``upsampler.build_upsampler`` (plus ``srddgan_runtime`` when the sampling
loop itself changes).
"""
import torch

from srddgan_arch.color_fix import COLOR_FIXES
from srddgan_arch.lr_consistency import DOWNSAMPLERS
from srddgan_arch.options.schema import Section, option, section

# precision -> autocast type (None: float32 throughout)
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


@section('')
class ModelChoice(Section):
    """What is read from one model's checkpoint and how it samples (the ``srddgan-infer`` options of the same names)."""

    param_key: str = option('params_ema', 'Key of the weights in the checkpoint (else params, else a bare state dict).')
    interpolate: str | None = option(None, "A second generator's weights (same network_g): the weights used are "
                                     "(1 - alpha) * the model's + alpha * these (ESRGAN's network interpolation).")
    alpha: float = option(0.5, 'Weight of the interpolate generator: 0 the model alone, 1 the second alone.', ge=0,
                          le=1)
    steps: int | None = option(None, "Diffusion steps T; null: the trained value (the checkpoint's record, else the "
                               "option file's).", gt=0)
    force_steps: bool = option(False, 'Sample with a T (or schedule) the generator was not trained with, warning.')
    lr_consistency: str | None = option(None, "LR-consistent output with this downsampler; null: the option file's "
                                        'lr_consistency section.', choices=DOWNSAMPLERS)
    color_fix: str = option('none', "Colours of the output from the upsampled LR: 'wavelet' (its low frequencies) or "
                            "'adain' (its channel statistics); for samplers without the LR projection.",
                            choices=COLOR_FIXES)


@section('')
class RunSettings(Section):
    """How a run computes, whatever the model (the ``srddgan-infer`` options of the same names)."""

    tile: int = option(0, 'Tile size in LR pixels; 0: the whole image at once.', ge=0)
    tile_pad: int = option(10, 'LR pixels of overlap context on each inner side of a tile.', ge=0)
    precision: str = option('fp32', 'fp32, or bf16 / fp16 autocast.', choices=tuple(PRECISIONS))
    device: str | None = option(None, 'Device; null: cuda, mps or cpu, the first available.')
    max_memory: float | None = option(None, 'Memory budget in GiB of one image, on the device and the host alike: an '
                                      'image estimated to need more is refused with the tile that fits; null: the '
                                      'free memory.', gt=0)
    channels_last: bool = option(False, 'Run the network in channels-last memory format.')
    compile: bool = option(False, 'Wrap the network with torch.compile.')

    def __post_init__(self):
        if isinstance(self.device, torch.device):  # taken as its name
            object.__setattr__(self, 'device', str(self.device))
        super().__post_init__()


def split_changes(changes):
    """Keyword changes of the two carriers, sorted by the carrier that declares each: (model changes, run changes).

    Args:
        changes (dict): Names of :class:`ModelChoice` or :class:`RunSettings` fields -> values.

    Returns:
        tuple[dict, dict]: The model choice's changes and the run settings'.

    Raises:
        TypeError: A name neither carrier declares.
    """
    unknown = sorted(set(changes) - set(ModelChoice.rules) - set(RunSettings.rules))
    if unknown:
        raise TypeError(f'unknown inference setting(s) {", ".join(unknown)}; known: '
                        f'{", ".join(sorted({*ModelChoice.rules, *RunSettings.rules}))}.')
    model = {name: value for name, value in changes.items() if name in ModelChoice.rules}
    return model, {name: value for name, value in changes.items() if name in RunSettings.rules}
