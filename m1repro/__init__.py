"""m1repro: a reproducible workflow for the m1 paper (test-time scaling for medical reasoning)."""

__version__ = "0.1.0"

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the checkout: config/, envs/, the base configuration
