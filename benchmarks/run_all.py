"""Run every benchmark in turn (``make bench``); each prints its own ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    ["bench_class_stats.py"],
    ["bench_nc_pipeline.py"],
    ["bench_nc_pipeline.py", "--offset", "1e4"],
    ["bench_silhouette.py"],
    ["bench_vs_monai.py"],
    ["bench_scaling.py"],
    ["bench_large_k.py"],
    ["bench_threads.py", "--busy", "1"],
    ["profile_analyze.py", "--n", "10000"],
]

if __name__ == "__main__":
    for script in SCRIPTS:
        print(f"\n$ python benchmarks/{' '.join(script)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script[0]), *script[1:]], check=True)
