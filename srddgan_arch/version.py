"""The version of srddgan, in one place: the package imports it and setup.py reads it without importing torch."""
__version__ = '0.1.0'
