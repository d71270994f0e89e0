"""srddgan's option machinery: the sections (``schema.py``: a key's type, default, bounds and meaning; every declared
section collected in ``schema.SECTIONS``), YAML against signatures (``signatures.py``), rules shared by sections
(``ranges.py``), the sections of BasicSR's pipelines (``pipeline_sections.py``) and the checks of a whole run
(``runs.py``). A component's own section sits with the class that reads it (``DiffusionOptions`` in ``diffusion.py``,
``TrainOptions`` in ``models/srddgan_options.py``, a data set's with its class); nothing here imports a component:
they bring their knowledge through BasicSR's registries (a model's ``parse_settings``, a data set class's
``options_section``, a metric's signature) and the sections' own."""
from srddgan_arch.options.schema import OptionError

__all__ = ['OptionError']
