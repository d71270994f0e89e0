"""Shared pytest fixtures: every test imports the plugin first (compatibility fixes and registries)."""
import srddgan_arch  # noqa: F401
