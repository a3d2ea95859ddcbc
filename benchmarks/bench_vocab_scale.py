"""Vocabulary-scale passes against their floors (issue 23, item 3), in one process.

    python benchmarks/bench_vocab_scale.py pass    [--n 262144 --d 768 --k 32768 --batch 16384]
    python benchmarks/bench_vocab_scale.py stream  [--n 2000000 --d 768 --k 32768 --batch 16384]
    python benchmarks/bench_vocab_scale.py parts   [--n 131072 --d 256 --k 10000 --batch 16384]
    python benchmarks/bench_vocab_scale.py metrics [--k 32768 --d 768]
    python benchmarks/bench_vocab_scale.py accuracy [--batch 256]

``pass``: ``Analyzer.update`` over the same float32 batches (labels: a Zipf-like vocabulary
of ``k`` tokens) with ``precision='float64'`` (default) and ``'float32'``, interleaved with the
bare float32 ``X.T @ X`` over the same batches (the floor), best of ``--repeats``; prints each
pass's ratio to the floor (goal for the float32 mode: <= 1.5x).
``stream``: the same comparison over ``--n`` rows (2M: more than memory holds as one set of
batches) generated batch by batch from a seed; each batch goes through the floor and every
engine variant in a rotating order, and only their own calls are timed (one run, so the
one-off costs, such as the class axis growing as new tokens arrive, are spread as in a real
pass). Prints the ratios, tokens/s and the process's peak memory.
``parts``: where one batch's time goes beside the GEMM (class statistics, unit sums, the row
sample, validation and label encoding), each timed alone over the same batches.
``metrics``: the one-pass metrics from the statistics (``Analyzer.exact_metrics``) against a
float32 ``K x K`` Gram of the class means, tiled (goal <= 2x).
``accuracy``: ``precision='float32'`` against the default on the real embeddings stored in
``tests/verdict/real_runs`` (MiniLM sentences, CNN, SimCLR, collapsed SimSiam features).

Every figure is a ratio measured in one process; the machine's load average is printed beside
it. ``--device cuda`` runs the same on a GPU (synchronised timings).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

NC_KEYS = [
    "nc1",
    "cdnv",
    "equinorm",
    "equiangularity",
    "max_angle",
    "etf_error",
    "centroid_similarity",
]


def load() -> str:
    return "load average " + " ".join(open("/proc/loadavg").read().split()[:3])


def tokens(n: int, k: int, g: torch.Generator) -> torch.Tensor:
    """Zipf-like token ids in [0, k): a few frequent tokens, a long tail (some never occur)."""
    weights = 1.0 / torch.arange(1, k + 1, dtype=torch.float64)
    return torch.multinomial(weights, n, replacement=True, generator=g)


def make_batches(
    n: int, d: int, k: int, batch: int, device: str
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(k, d, generator=g) * 0.5
    out = []
    for lo in range(0, n, batch):
        m = min(batch, n - lo)
        y = tokens(m, k, g)
        out.append(((centers[y] + torch.randn(m, d, generator=g)).to(device), y.to(device)))
    return out


def timer(device: str) -> Callable[[Callable[[], object]], float]:
    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def run(fn: Callable[[], object]) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    return run


def bench_pass(a: argparse.Namespace) -> None:
    from collapsekit import Analyzer

    batches = make_batches(a.n, a.d, a.k, a.batch, a.device)
    run = timer(a.device)

    def floor() -> None:
        acc = torch.zeros(a.d, a.d, device=a.device)
        for x, _ in batches:
            acc.addmm_(x.T, x)

    def engine(precision: str, dense: bool) -> Callable[[], None]:
        def go() -> None:
            an = Analyzer(
                precision=precision,  # type: ignore[arg-type]
                max_memory_mb=a.max_memory_mb,
                dim=a.d,
                num_classes=a.k if dense else None,
            )
            for x, y in batches:
                an.update(x, y)

        return go

    variants = {
        "Analyzer(precision='float64')": engine("float64", False),
        "Analyzer(precision='float32')": engine("float32", False),
        "Analyzer(precision='float64', num_classes=K)": engine("float64", True),
        "Analyzer(precision='float32', num_classes=K)": engine("float32", True),
    }
    floor()
    best = dict.fromkeys(["floor", *variants], 1e9)
    for _ in range(a.repeats):  # interleaved
        best["floor"] = min(best["floor"], run(floor))
        for name, fn in variants.items():
            best[name] = min(best[name], run(fn))
    f = best["floor"]
    print(
        f"N={a.n} D={a.d} K={a.k} batch={a.batch} device={a.device} "
        f"threads={torch.get_num_threads()} ({load()}): bare float32 X.T@X {f:.2f} s "
        f"({a.n / f:,.0f} rows/s)"
    )
    for name in variants:
        t = best[name]
        print(f"  {name:46s} {t:6.2f} s = {t / f:5.2f}x the floor ({a.n / t:,.0f} tokens/s)")


def bench_stream(a: argparse.Namespace) -> None:
    import resource

    from collapsekit import Analyzer

    g = torch.Generator().manual_seed(0)
    centers = torch.randn(a.k, a.d, generator=g) * 0.5
    run = timer(a.device)
    floor_acc = torch.zeros(a.d, a.d, device=a.device)
    floor64 = torch.zeros(a.d, a.d, dtype=torch.float64, device=a.device)
    engines = {
        "Analyzer(precision='float64')": Analyzer(max_memory_mb=a.max_memory_mb),
        "Analyzer(precision='float32')": Analyzer(
            precision="float32", max_memory_mb=a.max_memory_mb
        ),
        "Analyzer(precision='float32', num_classes=K)": Analyzer(
            precision="float32", max_memory_mb=a.max_memory_mb, num_classes=a.k
        ),
    }
    jobs: dict[str, Callable[[torch.Tensor, torch.Tensor], object]] = {
        "floor": lambda x, y: floor_acc.addmm_(x.T, x),
        # the default precision's own floor: the float32 rows widened, one float64 GEMM
        "floor64": lambda x, y: floor64.addmm_(x.double().T, x.double()),
    }
    for name, an in engines.items():
        jobs[name] = an.update
    spent = dict.fromkeys(jobs, 0.0)
    t_start, done, step = time.perf_counter(), 0, 0
    while done < a.n:
        m = min(a.batch, a.n - done)
        y = tokens(m, a.k, g)
        x = (centers[y] + torch.randn(m, a.d, generator=g)).to(a.device)
        y = y.to(a.device)
        names = list(jobs)
        names = names[step % len(names) :] + names[: step % len(names)]  # rotate the order
        for name in names:
            spent[name] += run(lambda name=name, x=x, y=y: jobs[name](x, y))
        done += m
        step += 1
        if step % 20 == 0:
            print(f"  {done:,} rows, {time.perf_counter() - t_start:.0f} s", flush=True)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    f = spent["floor"]
    print(
        f"N={a.n:,} D={a.d} K={a.k} batch={a.batch} device={a.device} "
        f"threads={torch.get_num_threads()} ({load()}), streamed: bare float32 X.T@X {f:.1f} s "
        f"({a.n / f:,.0f} rows/s); peak RSS {peak_gib:.1f} GiB (all variants' states together)"
    )
    f64 = spent["floor64"]
    print(f"  {'bare float64 X.T@X (rows widened)':46s} {f64:7.1f} s = {f64 / f:5.2f}x the floor")
    for name in engines:
        t = spent[name]
        own = f"; {t / f64:.2f}x the float64 floor" if "float64" in name else ""
        print(f"  {name:46s} {t:7.1f} s = {t / f:5.2f}x the floor{own} ({a.n / t:,.0f} tokens/s)")


def bench_parts(a: argparse.Namespace) -> None:
    from collapsekit import Analyzer
    from collapsekit._validation import finite_and_wide_enough
    from collapsekit.engine.labels import LabelEncoder
    from collapsekit.stats.class_stats import ClassStats
    from collapsekit.stats.row_reservoir import RowReservoir
    from collapsekit.stats.unit_moments import UnitVectorMoments

    batches = make_batches(a.n, a.d, a.k, a.batch, a.device)
    run = timer(a.device)
    dev = torch.device(a.device)

    def floor() -> None:
        acc = torch.zeros(a.d, a.d, device=dev)
        for x, _ in batches:
            acc.addmm_(x.T, x)

    def class_stats(p: str) -> Callable[[], None]:
        def go() -> None:
            cs = ClassStats(a.k, a.d, device=dev, precision=p)  # type: ignore[arg-type]
            for x, y in batches:
                cs.update(x, y)

        return go

    def units(p: str) -> Callable[[], None]:
        def go() -> None:
            um = UnitVectorMoments(a.k, a.d, dev, p)
            for x, y in batches:
                um.update(x, y)

        return go

    def reservoir() -> None:
        r = RowReservoir(20_000, 0)
        for x, y in batches:
            r.update(x, y)

    def checks() -> None:
        enc = LabelEncoder()
        for x, y in batches:
            finite_and_wide_enough(x, "features")
            enc.encode(y, dev, x.shape[0])

    def analyzer(p: str) -> Callable[[], None]:
        def go() -> None:
            an = Analyzer(precision=p, max_memory_mb=a.max_memory_mb, dim=a.d)  # type: ignore[arg-type]
            for x, y in batches:
                an.update(x, y)

        return go

    parts: dict[str, Callable[[], None]] = {
        "bare float32 X.T@X": floor,
        "ClassStats float64": class_stats("float64"),
        "ClassStats float32": class_stats("float32"),
        "UnitVectorMoments float64": units("float64"),
        "UnitVectorMoments float32": units("float32"),
        "RowReservoir (20k rows)": reservoir,
        "validation + LabelEncoder": checks,
        "Analyzer float64": analyzer("float64"),
        "Analyzer float32": analyzer("float32"),
    }
    best = dict.fromkeys(parts, 1e9)
    for _ in range(a.repeats):
        for name, fn in parts.items():
            best[name] = min(best[name], run(fn))
    f = best["bare float32 X.T@X"]
    print(f"N={a.n} D={a.d} K={a.k} batch={a.batch} device={a.device} ({load()})")
    for name, t in best.items():
        print(f"  {name:28s} {t:7.3f} s  {t / f:5.2f}x the floor")


def bench_metrics(a: argparse.Namespace) -> None:
    from collapsekit.stats.class_stats import ClassStats

    dev = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    cs = ClassStats(a.k, a.d, device=dev)
    centers = torch.randn(a.k, a.d, generator=g)
    for _ in range(a.rows_per_class):
        for lo in range(0, a.k, 8192):
            y = torch.arange(lo, min(a.k, lo + 8192))
            cs.update((centers[y] + 0.3 * torch.randn(y.numel(), a.d, generator=g)).to(dev), y)
    means = cs.class_means().float()
    run = timer(a.device)

    def gram() -> None:  # float32 K x K Gram of the means, in row tiles
        for lo in range(0, a.k, a.tile):
            means[lo : lo + a.tile] @ means.T

    gram()
    floor = min(run(gram) for _ in range(a.repeats))
    best = min(run(cs.neural_collapse) for _ in range(a.repeats))
    print(
        f"K={a.k} D={a.d} device={a.device} ({load()}): float32 K x K Gram of the means "
        f"{floor:.2f} s; every NC metric from the statistics (ClassStats.neural_collapse) "
        f"{best:.2f} s = {best / floor:.2f}x (goal <= 2x)"
    )


ACCURACY_KEYS = [
    "nc1",
    "cdnv",
    "effective_rank",
    "rankme",
    "alpha_req",
    "std_of_l2_normalized",
    "equiangularity",
    "self_duality",
]


def accuracy_cases() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """Real embeddings stored in the repository (tests/verdict/real_runs): frozen MiniLM
    sentence embeddings (750 x 384, 6 topics) and trained CNN / SimCLR / collapsed SimSiam
    features (128 wide, 10 classes)."""
    import numpy as np

    folder = os.path.join(os.path.dirname(__file__), "..", "tests", "verdict", "real_runs")
    out: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
    z = np.load(os.path.join(folder, "minilm_topics.npz"))
    out["MiniLM topics (750 x 384, K=6)"] = (
        torch.from_numpy(z["pool"]),
        torch.from_numpy(z["topic"]),
        None,
    )
    for name in ("cnn_final", "cnn_early", "simclr_backbone", "simsiam_nostopgrad_bn"):
        z = np.load(os.path.join(folder, f"{name}.npz"))
        w = torch.from_numpy(z["weights"]) if "weights" in z.files else None
        out[f"{name} ({z['features'].shape[0]} x 128, K=10)"] = (
            torch.from_numpy(z["features"]),
            torch.from_numpy(z["labels"]),
            w,
        )
    return out


def bench_accuracy(a: argparse.Namespace) -> None:
    """Largest relative difference, float32 products against float64, per metric."""
    from collapsekit import Analyzer

    print(f"precision='float32' against 'float64', relative difference ({load()}):")
    print("| data | " + " | ".join(ACCURACY_KEYS) + " |")
    print("|---|" + "---|" * len(ACCURACY_KEYS))
    for name, (x, y, w) in accuracy_cases().items():
        values = {}
        for p in ("float64", "float32"):
            an = Analyzer(precision=p)  # type: ignore[arg-type]
            for xb, yb in zip(x.split(a.batch), y.split(a.batch), strict=True):
                an.update(xb, yb)
            values[p] = an.exact_metrics(weights=w)
        cells = []
        for key in ACCURACY_KEYS:
            if key not in values["float64"]:
                cells.append("-")
                continue
            ref, got = values["float64"][key], values["float32"][key]
            cells.append(f"{abs(got - ref) / max(abs(ref), 1e-300):.1e}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=["pass", "stream", "parts", "metrics", "accuracy"])
    p.add_argument("--n", type=int, default=262_144)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=32_768)
    p.add_argument("--batch", type=int, default=16_384)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rows-per-class", type=int, default=2)
    p.add_argument("--tile", type=int, default=2048)
    p.add_argument("--max-memory-mb", type=float, default=4096)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    modes = {"pass": bench_pass, "stream": bench_stream, "parts": bench_parts}
    modes["metrics"] = bench_metrics
    modes["accuracy"] = bench_accuracy
    modes[a.mode](a)


if __name__ == "__main__":
    main()
