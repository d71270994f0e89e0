"""What srddgan's scripts share and the library does not need: data preparation (``prepare``, ``paper_datasets``, the
demo set ``demo``), the images a quality benchmark scores (``evaluation_pairs``), models built from options alone to
measure one training iteration (``standalone``) and what a call costs (``cost``), content fusion (``fusion``).

The scripts in ``scripts/`` import it as an installed package, like ``srddgan_arch``: it imports the library, never the
other way round. It ships in the wheel beside ``srddgan_arch`` and ``srddgan_runtime``.
"""
import srddgan_arch  # noqa: F401  (BasicSR's compatibility fixes and the registrations, before any basicsr import)
