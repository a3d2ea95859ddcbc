"""The engine against its floors.

    python benchmarks/bench_engine.py pass   [--n 1000000 --d 768 --k 1000 --batch 65536]
    python benchmarks/bench_engine.py memory [--n 1000000 --d 768 --k 1000]
    python benchmarks/bench_engine.py memory-table [--d 768 --k 1000]
    python benchmarks/bench_engine.py in-memory [--n 20000 --d 768 --k 10]

``pass``: the one-pass exact statistics of ``Analyzer.update`` (class moments, unit-vector
sums, the row reservoir; per-class scatters only within the memory budget) over float32
batches, against a bare float32 ``X.T @ X`` over the same batches in the same process
(goal <= 2x).
``memory``: writes an N x D float32 .npy (and labels) to a temporary folder and runs
``collapsekit analyze`` on it in a child process; prints the child's peak RSS (goal:
independent of N, at most 1.5 GB above one batch). ``memory-table`` runs it at N/10 and N.
``in-memory``: the whole ``analyze()`` on an in-memory matrix (goal < 5 s at 20k x 768).
``spectrum``: the spectrum metrics after the pass (``Analyzer.compute(metrics=...,
second_pass=...)``, no rows held), on full-rank rows (no second pass is needed: the cost
should be the D x D eigendecompositions alone) and on rank-5 float32 rows with an offset of
100 (the tail needs the deflated second pass), each against the bare float32 ``X.T @ X`` of
the same batches, interleaved in one process, best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_batches(n: int, d: int, k: int, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, d, generator=g) * 0.5
    out = []
    for lo in range(0, n, batch):
        m = min(batch, n - lo)
        y = torch.randint(0, k, (m,), generator=g)
        out.append((centers[y] + torch.randn(m, d, generator=g), y))
    return out


def bench_pass(a: argparse.Namespace) -> None:
    from collapsekit import Analyzer

    batches = make_batches(a.n, a.d, a.k, a.batch)

    def gemm() -> float:
        t0 = time.perf_counter()
        acc = torch.zeros(a.d, a.d)
        for x, _ in batches:
            acc += x.T @ x
        return time.perf_counter() - t0

    def engine() -> tuple[float, Analyzer]:
        t0 = time.perf_counter()
        an = Analyzer(max_memory_mb=a.max_memory_mb)
        for x, y in batches:
            an.update(x, y)
        return time.perf_counter() - t0, an

    gemm()
    floor = min(gemm() for _ in range(a.repeats))
    runs = [engine() for _ in range(a.repeats)]
    best, an = min(runs, key=lambda r: r[0])
    per_class = "exact" if an.per_class is not None else "from the sample (over budget)"
    print(
        f"N={a.n} D={a.d} K={a.k} batch={a.batch} threads={torch.get_num_threads()}: "
        f"bare X.T@X {floor:.2f} s, Analyzer pass {best:.2f} s, ratio {best / floor:.2f}x "
        f"(goal <= 2x); per-class ranks {per_class}"
    )


def write_npy(folder: Path, n: int, d: int, k: int) -> tuple[Path, Path]:
    path, labels = folder / "emb.npy", folder / "labels.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    for lo in range(0, n, 65536):
        hi = min(n, lo + 65536)
        out[lo:hi] = centers[y[lo:hi]] + rng.standard_normal((hi - lo, d), dtype=np.float32)
    out.flush()
    del out
    np.save(labels, y)
    return path, labels


def _rss_anon_kb(pid: int) -> int:
    """Anonymous resident memory of a process (its own allocations; the pages of a
    memory-mapped input file are page cache, counted in RSS but not here)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(n: int, d: int, k: int, batch: int) -> tuple[float, float, float]:
    """(peak RSS MB including mapped file pages, peak anonymous MB, seconds) of the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        path, labels = write_npy(Path(tmp), n, d, k)
        t0 = time.perf_counter()
        cmd = [
            sys.executable,
            "-m",
            "collapsekit",
            "analyze",
            str(path),
            "--labels",
            str(labels),
            "--batch-size",
            str(batch),
            "--json",
            str(Path(tmp) / "r.json"),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        anon = 0
        while proc.poll() is None:
            anon = max(anon, _rss_anon_kb(proc.pid))
            time.sleep(0.05)
        if proc.returncode:
            raise SystemExit(f"collapsekit analyze failed with code {proc.returncode}")
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        report = json.loads((Path(tmp) / "r.json").read_text())
        assert report["inputs"]["n"] == n
        return peak / 1024, anon / 1024, seconds


def bench_memory(a: argparse.Namespace) -> None:
    peak, anon, seconds = peak_rss_mb(a.n, a.d, a.k, a.batch)
    batch_mb = a.batch * a.d * 4 / 2**20
    print(
        f"collapsekit analyze on a {a.n} x {a.d} float32 .npy ({a.n * a.d * 4 / 2**30:.1f} GB), "
        f"K={a.k}, batch {a.batch} ({batch_mb:.0f} MB): peak anonymous memory {anon:.0f} MB, "
        f"peak RSS with the memory-mapped file's pages {peak:.0f} MB, {seconds:.0f} s"
    )


def bench_memory_table(a: argparse.Namespace) -> None:
    for n in (a.n // 10, a.n):
        a2 = argparse.Namespace(**{**vars(a), "n": n})
        bench_memory(a2)


def bench_in_memory(a: argparse.Namespace) -> None:
    from collapsekit import analyze

    x, y = make_batches(a.n, a.d, a.k, a.n)[0]
    analyze(x[:500], y[:500], bootstrap=0)
    t0 = time.perf_counter()
    r = analyze(x, y, bootstrap=0)
    seconds = time.perf_counter() - t0
    print(
        f"analyze() in memory, N={a.n} D={a.d} K={a.k}: {seconds:.2f} s (goal < 5 s), "
        f"{len(r.metrics)} metrics, verdict {r.verdict.label}"
    )


def bench_spectrum(a: argparse.Namespace) -> None:
    from collapsekit import Analyzer

    keys = ["effective_rank", "effective_rank_score", "rankme", "alpha_req"]
    g = torch.Generator().manual_seed(0)
    full = [x for x, _ in make_batches(a.n, a.d, 1, a.batch)]
    low = [
        (torch.randn(x.shape[0], 5, generator=g) @ torch.randn(5, a.d, generator=g) + 100.0)
        for x in full
    ]

    def gemm(batches: list[torch.Tensor]) -> float:
        t0 = time.perf_counter()
        acc = torch.zeros(a.d, a.d)
        for x in batches:
            acc += x.T @ x
        return time.perf_counter() - t0

    def gemm64(batches: list[torch.Tensor]) -> float:
        t0 = time.perf_counter()
        acc = torch.zeros(a.d, a.d, dtype=torch.float64)
        for x in batches:
            x64 = x.double()
            acc += x64.T @ x64
        return time.perf_counter() - t0

    def run(batches: list[torch.Tensor]) -> tuple[float, float, str]:
        an = Analyzer(sample_rows=64)
        t0 = time.perf_counter()
        for x in batches:
            an.update(x)
        t1 = time.perf_counter()
        again = lambda: ((x, None, None) for x in batches)  # noqa: E731
        r = an.compute(second_pass=again, metrics=keys, bootstrap=0)
        return t1 - t0, time.perf_counter() - t1, r.provenance["effective_rank"]

    gemm(full)
    best: dict[str, list[float]] = {}
    prov = {}
    for _ in range(a.repeats):
        for name, batches in (("full rank", full), ("rank 5 + 100", low)):
            floor = gemm(batches)
            floor64 = gemm64(batches)
            pass_s, spec_s, prov[name] = run(batches)
            got = [floor, floor64, pass_s, spec_s]
            best[name] = [min(u, v) for u, v in zip(best.get(name, got), got, strict=True)]
    print(f"N={a.n} D={a.d} batch={a.batch} threads={torch.get_num_threads()}, best of {a.repeats}")
    for name, (floor, floor64, pass_s, spec_s) in best.items():
        print(
            f"{name}: bare X.T@X {floor:.2f} s (float64, with its copy: {floor64:.2f} s), pass "
            f"{pass_s:.2f} s ({pass_s / floor:.2f}x), spectrum metrics after it {spec_s:.2f} s "
            f"({spec_s / floor:.2f}x); {prov[name]}"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["pass", "memory", "memory-table", "in-memory", "spectrum"])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--batch", type=int, default=65536)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--max-memory-mb", type=float, default=4096)
    a = p.parse_args()
    if a.n is None:
        a.n = 20_000 if a.what == "in-memory" else 1_000_000
    if a.k is None:
        a.k = 10 if a.what == "in-memory" else 1000
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    {
        "pass": bench_pass,
        "memory": bench_memory,
        "memory-table": bench_memory_table,
        "in-memory": bench_in_memory,
        "spectrum": bench_spectrum,
    }[a.what](a)


if __name__ == "__main__":
    main()
