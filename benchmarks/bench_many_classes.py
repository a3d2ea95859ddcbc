"""``analyze()`` over many classes of few rows: wall time, peak memory, and what was sampled.

    python benchmarks/bench_many_classes.py [--k 200000 --rows-per-class 2 --d 8]

K classes of ``--rows-per-class`` rows each (class centres N(0, I), rows centre + 0.3 N(0, I),
shuffled), D features, one ``analyze(x, y, bootstrap=0)`` call. Prints the time to each stage
(from the ``progress`` callback), the wall time, the peak resident memory, the provenance of
the row-scored metrics and the tests the verdict did not run (the sampled parts say so there).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from collapsekit import analyze


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, default=200_000)
    p.add_argument("--rows-per-class", type=int, default=2)
    p.add_argument("--d", type=int, default=8)
    a = p.parse_args()
    g = torch.Generator().manual_seed(0)
    n = a.k * a.rows_per_class
    y = torch.randperm(n, generator=g) % a.k
    x = torch.randn(a.k, a.d, generator=g)[y] + 0.3 * torch.randn(n, a.d, generator=g)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    seen: set[str] = set()

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage not in seen:
            seen.add(stage)
            print(f"  {time.perf_counter() - t0:8.1f}s  {stage}", flush=True)

    report = analyze(x, y, bootstrap=0, progress=progress)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"K={a.k} rows/class={a.rows_per_class} N={n} D={a.d}")
    print(f"wall {wall:.1f}s  peak RSS {peak:.2f} GiB (inputs and imports: {base:.2f} GiB)")
    print(f"verdict: {report.verdict.label}")
    for key in ("silhouette", "loo_centroid_stability", "equiangularity", "linear_probe_accuracy"):
        print(f"  {key}: {report.provenance.get(key, 'not computed')}")
    for line in report.verdict.tests_not_run:
        print(f"  not run: {line}")
    for note in report.inputs.get("notes", []):
        print(f"  note: {note}")


if __name__ == "__main__":
    main()
