"""GPU tests (marker gpu): see conftest.py and docs/gpu_check.md."""
