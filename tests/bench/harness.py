"""What the benchmark tests share: running a bench script whole, or its main() in this process."""

import subprocess
import sys
from pathlib import Path

from tests.helpers import load_script, run_main

REPO = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def refuse_bench(script: str, *args: str) -> subprocess.CompletedProcess:
    """A bench's main() in this process, for options it refuses before measuring anything."""
    return run_main(load_script(REPO / "bench" / script).main, args, script)
