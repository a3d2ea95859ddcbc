"""The collapse-indicator suite vs MONAI 1.6.1's compute_embedding_collapse, same inputs.

    pip install -r benchmarks/requirements.txt    # MONAI, benchmark environment only
    python benchmarks/bench_vs_monai.py [--sizes 2000 10000 --d 768 --k 10 --target-max 2000]

For each N: MONAI's ``compute_embedding_collapse`` (4 indicators), collapsekit's MONAI-compatible
function (same keys), and collapsekit's whole ``analyze()`` suite (about 30 metrics, with an
isotropic baseline), without and (for N <= --target-max; MONAI's CKA is O(N^3)) with a paired
target domain; and ``analyze(metrics=...)`` restricted to the metrics that answer MONAI's
indicators. Speed-ups are MONAI's time over collapsekit's, measured interleaved in this process
(best of --repeats runs each). Last, the floor that exact spectra set for that subset: the
float64 factorisations alone (the centred rows' D x D Gram and its eigenvalues, each class's
Gram and eigenvalues, in one pool of threads as ``analyze`` runs them), with MONAI's time over
it: the largest ratio any exact implementation could reach on this machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from collapsekit import _linalg, analyze
from collapsekit._threads import map_independent
from collapsekit.inference import null_model
from collapsekit.integrations.monai import compute_embedding_collapse

#: the collapsekit metrics that answer MONAI's indicators (``analyze(metrics=...)``)
MONAI_INDICATORS = [
    "effective_rank_score",
    "centroid_similarity",
    "per_class_effective_rank_min",
    "silhouette",
]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def exact_floor(x: torch.Tensor, y: torch.Tensor) -> None:
    """The float64 factorisations that exact effective ranks (global and per class) need."""
    xd = x.double()
    xd -= xd.mean(0)
    classes = [xd[y == c] for c in torch.unique(y).tolist()]

    def job(i: int) -> torch.Tensor:
        if i < 0:
            return _linalg.eigvalsh(_linalg.gram(xd, rows=False))
        part = classes[i] - classes[i].mean(0)
        return _linalg.eigvalsh(_linalg.gram(part, rows=part.shape[0] < part.shape[1]))

    # the longest job (the N x D scatter and its D x D eigenvalues) first: the best schedule
    # of two workers, so this is the smallest wall time the factorisations can take
    map_independent(job, [-1, *range(len(classes))])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--target-max", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs; best of each")
    a = p.parse_args()
    try:
        from monai.metrics.embedding_collapse import compute_embedding_collapse as monai_collapse
    except ImportError:
        raise SystemExit(
            "MONAI is not installed: pip install -r benchmarks/requirements.txt"
        ) from None
    print(f"D={a.d} K={a.k} cpu threads={torch.get_num_threads()}")
    print(
        f"{'N':>6s} {'target':>6s} {'MONAI s':>8s} {'compat s':>9s} {'x':>5s} "
        f"{'analyze s':>10s} {'x':>5s} {'metrics= s':>10s} {'x':>5s} {'max |diff|':>10s}"
    )
    g = torch.Generator().manual_seed(0)
    warm = torch.randn(300, a.d, generator=g)
    warm_y = torch.arange(300) % a.k
    compute_embedding_collapse(warm, warm_y, warm)
    analyze(warm, warm_y, reference=warm, bootstrap=0)
    monai_collapse(warm, warm_y, warm)
    for n in a.sizes:
        y = torch.randint(0, a.k, (n,), generator=g)
        x = torch.randn(a.k, a.d, generator=g)[y] + torch.randn(n, a.d, generator=g)
        target = x @ torch.randn(a.d, a.d, generator=g) / a.d**0.5
        for tgt in (None, target) if n <= a.target_max else (None,):
            subset = MONAI_INDICATORS + (["linear_cka"] if tgt is not None else [])
            best = [float("inf")] * 5
            for _ in range(a.repeats):  # interleaved: each run sees the same machine state
                t_monai, theirs = timed(lambda x=x, y=y, tgt=tgt: monai_collapse(x, y, tgt))
                t_compat, ours = timed(
                    lambda x=x, y=y, tgt=tgt: compute_embedding_collapse(x, y, tgt)
                )
                null_model._CACHE.clear()  # time the first call: baseline simulation included
                t_suite, _ = timed(lambda x=x, y=y, tgt=tgt: analyze(x, y, reference=tgt))
                null_model._CACHE.clear()
                t_subset, _ = timed(
                    lambda x=x, y=y, tgt=tgt, m=subset: analyze(x, y, reference=tgt, metrics=m)
                )
                null_model._CACHE.clear()
                t_fast, _ = timed(
                    lambda x=x, y=y, tgt=tgt, m=subset: analyze(
                        x, y, reference=tgt, metrics=m, precision="float32"
                    )
                )
                times = (t_monai, t_compat, t_suite, t_subset, t_fast)
                best = [min(b, t) for b, t in zip(best, times, strict=True)]
            t_monai, t_compat, t_suite, t_subset, t_fast = best
            floor = min(timed(lambda x=x, y=y: exact_floor(x, y))[0] for _ in range(a.repeats))
            assert isinstance(theirs, dict) and isinstance(ours, dict)
            worst = max(
                abs(float(ours[key]) - float(v)) for key, v in theirs.items() if v is not None
            )
            print(
                f"{n:6d} {'yes' if tgt is not None else 'no':>6s} {t_monai:8.2f} "
                f"{t_compat:9.3f} {t_monai / t_compat:4.0f}x {t_suite:10.3f} "
                f"{t_monai / t_suite:4.1f}x {t_subset:10.3f} {t_monai / t_subset:4.1f}x "
                f"{worst:10.1e}",
                flush=True,
            )
            print(
                f"{'':6s} metrics= with precision='float32' (opt-in): {t_fast:.3f} s = "
                f"{t_monai / t_fast:.1f}x"
            )
            print(
                f"{'':6s} exact float64 factorisations alone: {floor:.3f} s; MONAI over them "
                f"{t_monai / floor:.1f}x (the ceiling of an exact metrics= subset here)"
            )


if __name__ == "__main__":
    main()
