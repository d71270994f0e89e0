"""Test with BasicSR's pipeline and the srddgan plugin: ``python srddgan_arch/test.py -opt options/X.yml``."""
import sys
from os import path as osp

# run as a script, sys.path[0] is this folder: use the checkout instead, so the package imports by its own name
sys.path[0] = osp.dirname(osp.dirname(osp.abspath(__file__)))

from srddgan_arch.commands.test import test  # noqa: E402

if __name__ == '__main__':
    test()
