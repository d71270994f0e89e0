"""The part of srddgan's build that pyproject.toml cannot state (its metadata and dependencies are there).

The option files have one copy, the repository's ``options/``; the wheel ships that folder as the data package
``srddgan_arch.configs``, where ``srddgan_arch.option_files`` finds them when the package is installed.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=['srddgan_arch', 'srddgan_arch.*', 'srddgan_runtime', 'srddgan_tools'])
    + ['srddgan_arch.configs'],
    package_dir={'srddgan_arch.configs': 'options'},
    package_data={'srddgan_arch.configs': ['*.yml']},
)
