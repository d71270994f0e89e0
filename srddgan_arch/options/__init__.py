"""srddgan's option knowledge: typed sections (``sections.py``, each key once) and the checks of an option dict."""
from srddgan_arch.options.checks import (
    ModelSettings,
    check_data_sets,
    check_option_keys,
    check_run_options,
    dataset_settings,
    parse_model_options,
    prepare_run_options,
    resolve_total_batch,
)
from srddgan_arch.options.schema import OptionError
from srddgan_arch.options.sections import DiffusionOptions, LRConsistencyOptions, TrainOptions, ValOptions

__all__ = ['DiffusionOptions', 'LRConsistencyOptions', 'ModelSettings', 'OptionError', 'TrainOptions', 'ValOptions',
           'check_data_sets', 'check_option_keys', 'check_run_options', 'dataset_settings', 'parse_model_options',
           'prepare_run_options', 'resolve_total_batch']
