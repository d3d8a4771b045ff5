#!/usr/bin/env python3
"""GPU check kit: verify the project's GPU paths on one GPU in a few minutes (docs/gpu_check.md).

    python3 benchmarks/gpu_check.py [--device cuda|cpu] [--quick] [--out benchmarks/out/gpu_check.json]
    python3 benchmarks/gpu_check.py --make-reference      # on a CPU: rewrite benchmarks/gpu_check_reference.json

Runs from a bare checkout (no install): the repository root is put on the import path.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from m1repro.gpucheck import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
