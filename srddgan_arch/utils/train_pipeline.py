"""What srddgan takes from BasicSR's train pipeline where it builds things (not fixes: nothing it does changes).

``basicsr.train.train_pipeline`` keeps its validation loaders and tensorboard logger to itself: they are recorded in
:data:`validation_inputs` for a resumed model that redoes the validation its pre-empted run cut short
(``TrainingMixin.update_learning_rate``). And a ``name`` containing "debug" switches BasicSR's debug schedule on
silently (validation and checkpoints every 8 iterations, a log line every iteration, no tensorboard or wandb): the
run's log says so as soon as it exists.
"""
from basicsr.utils import get_root_logger

validation_inputs = {'loaders': [], 'tb_logger': None}


def announce_debug_schedule(opt):
    """Log BasicSR's debug schedule when the run's name switches it on.

    Args:
        opt (dict): The parsed options of a training run.
    """
    if 'debug' in opt['name']:
        get_root_logger().warning(
            f'The name {opt["name"]!r} contains "debug" (or --debug was given): BasicSR\'s debug schedule is on '
            f'(val_freq {(opt.get("val") or {}).get("val_freq")}, print_freq {opt["logger"]["print_freq"]}, '
            f'save_checkpoint_freq {opt["logger"]["save_checkpoint_freq"]}, no tensorboard or wandb). Rename the '
            'run to train on the option file\'s schedule.')


def hook_train_pipeline():
    """Make BasicSR's train pipeline record its validation loaders and tensorboard logger in
    :data:`validation_inputs` and announce its debug schedule (:func:`announce_debug_schedule`) once its log exists."""
    import basicsr.train
    create_loaders, init_tb_loggers = basicsr.train.create_train_val_dataloader, basicsr.train.init_tb_loggers

    def create_train_val_dataloader(opt, logger):
        result = create_loaders(opt, logger)
        validation_inputs['loaders'] = result[2]
        return result

    def init_loggers(opt):  # called right after the pipeline set its log file up
        announce_debug_schedule(opt)
        validation_inputs['tb_logger'] = init_tb_loggers(opt)
        return validation_inputs['tb_logger']

    basicsr.train.create_train_val_dataloader = create_train_val_dataloader
    basicsr.train.init_tb_loggers = init_loggers
