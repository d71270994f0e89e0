"""srddgan archs: modules ending in the registering suffix are imported by ``srddgan_arch.import_plugin_modules``."""
