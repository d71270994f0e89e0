"""``srddgan-train``: BasicSR's train pipeline with the plugin loaded, from any working directory."""
from basicsr.train import train_pipeline

from srddgan_arch.commands.pipeline import run_pipeline
from srddgan_arch.utils.preemption import install_handlers


def train():
    """``srddgan-train -opt X.yml [--launcher none|pytorch|slurm] [--auto_resume] [--debug] [--force_yml k=v]``."""
    install_handlers()  # SIGTERM / SIGUSR1: save at the end of the iteration, exit PREEMPTED_EXIT_CODE
    run_pipeline(train_pipeline, 'srddgan-train')
