"""srddgan's command-line entry points, one module a command: ``srddgan-train`` (``train``), ``srddgan-test``
(``test``), ``srddgan-infer`` (``infer``), ``srddgan-export`` (``export``) and ``srddgan-app`` (``app``); ``pipeline``
holds what the two BasicSR commands share. How every tool reports a mistake is ``srddgan_arch.cli_errors`` (the
library's own argument checks and the scripts use it too)."""
