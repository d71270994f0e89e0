"""``srddgan-test``: BasicSR's test pipeline with the plugin loaded, from any working directory."""
from basicsr.test import test_pipeline

from srddgan_arch.commands.pipeline import run_pipeline


def test():
    """``srddgan-test -opt X.yml``."""
    run_pipeline(test_pipeline, 'srddgan-test')
