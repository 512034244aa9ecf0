"""Wildcat benchmarks: each sub-package runs with ``python -m bench.<name>``; ``python -m bench`` runs all."""
