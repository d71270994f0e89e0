"""srddgan's option knowledge: the section machinery (``schema.py``), the typed sections (``sections.py``, each key
once), YAML against signatures (``signatures.py``), the model's sections (``model.py``) and the checks of a whole run
(``runs.py``). Nothing here reads data or metrics: those components bring their own knowledge through BasicSR's
registries (a data set class's ``options_section``, a metric's signature)."""
from srddgan_arch.options.model import ModelSettings, parse_model_options
from srddgan_arch.options.runs import (
    check_datasets,
    check_option_keys,
    check_run_options,
    dataset_settings,
    prepare_run_options,
    resolve_total_batch,
)
from srddgan_arch.options.schema import OptionError
from srddgan_arch.options.sections import DiffusionOptions, LRConsistencyOptions, TrainOptions, ValOptions

__all__ = ['DiffusionOptions', 'LRConsistencyOptions', 'ModelSettings', 'OptionError', 'TrainOptions', 'ValOptions',
           'check_datasets', 'check_option_keys', 'check_run_options', 'dataset_settings', 'parse_model_options',
           'prepare_run_options', 'resolve_total_batch']
