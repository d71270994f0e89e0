"""How inference runs, each default written once: ``srddgan-infer`` builds one :class:`InferenceSettings` from its
arguments (an argument left out is None: the default here), and ``build_upsampler`` hands it to ``SRDDGANer``
unchanged. Scripts and the Python API pass the same object, or keyword changes of it."""
import torch

from srddgan_arch.lr_consistency import DOWNSAMPLERS
from srddgan_arch.options.schema import Section, option, section

# precision -> autocast type (None: float32 throughout)
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


@section('')
class InferenceSettings(Section):
    """The runtime settings of an upsampler (the options of ``srddgan-infer`` of the same names)."""

    param_key: str = option('params_ema', 'Key of the weights in the checkpoint (else params, else a bare state dict).')
    steps: int | None = option(None, "Diffusion steps T; null: the trained value (the checkpoint's record, else the "
                               "option file's).", gt=0)
    force_steps: bool = option(False, 'Sample with a T (or schedule) the generator was not trained with, warning.')
    interpolate: str | None = option(None, "A second generator's weights (same network_g): the weights used are "
                                     "(1 - alpha) * the model's + alpha * these (ESRGAN's network interpolation).")
    alpha: float = option(0.5, 'Weight of the interpolate generator: 0 the model alone, 1 the second alone.', ge=0,
                          le=1)
    lr_consistency: str | None = option(None, "LR-consistent output with this downsampler; null: the option file's "
                                        'lr_consistency section.', choices=DOWNSAMPLERS)
    tile: int = option(0, 'Tile size in LR pixels; 0: the whole image at once.', ge=0)
    tile_pad: int = option(10, 'LR pixels of overlap context on each inner side of a tile.', ge=0)
    precision: str = option('fp32', 'fp32, or bf16 / fp16 autocast.', choices=tuple(PRECISIONS))
    device: str | None = option(None, 'Device; null: cuda, mps or cpu, the first available.')
    channels_last: bool = option(False, 'Run the network in channels-last memory format.')
    compile: bool = option(False, 'Wrap the network with torch.compile.')

    def __post_init__(self):
        if isinstance(self.device, torch.device):  # taken as its name
            object.__setattr__(self, 'device', str(self.device))
        super().__post_init__()
