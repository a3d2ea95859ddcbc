"""The same rows through every entry point: the largest relative difference from ``analyze()``.

    python benchmarks/entry_point_agreement.py [--n 200 --d 768 --rank 12 --k 4]

Rows are float32, rank-deficient (``--rank`` directions plus an offset), the regime where the
entry points used to disagree. Prints a Markdown table: one row per metric, one column per entry
point; a cell is max |value - analyze| / |analyze| ("-" where the entry point does not report it).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import collapsekit as ck
from collapsekit.integrations.collapse_monitor import CollapseMonitor
from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric
from collapsekit.stats.class_stats import ClassStats


def rows(n: int, d: int, rank: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % k
    basis = torch.randn(rank, d, generator=g)
    x = torch.randn(n, rank, generator=g) @ basis + 3.0 * basis[y % rank] + 5.0
    return x.float(), y, torch.randn(k, d, generator=g)


def entry_points(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> dict[str, dict[str, float]]:
    n, d = x.shape
    k = int(y.max()) + 1
    out: dict[str, dict[str, float]] = {}
    out["analyze"] = ck.analyze(x, y, weights=w, bootstrap=0).metrics
    batches = [(x[i : i + 37], y[i : i + 37]) for i in range(0, n, 37)]
    out["streamed"] = ck.analyze(batches, weights=w, bootstrap=0).metrics
    out["generator"] = ck.analyze(iter(batches), weights=w, bootstrap=0).metrics
    a, b = ck.Analyzer(), ck.Analyzer()
    a.update(x[: n // 3], y[: n // 3])
    b.update(x[n // 3 :], y[n // 3 :])
    out["merged"] = a.merge(b).compute(w, bootstrap=0).metrics
    mon = CollapseMonitor(k, d, history=None)
    for xb, yb in batches:
        mon.update(xb, yb)
    out["monitor"] = mon.end_epoch(0, weights=w, ncc_features=[x])
    tm = NeuralCollapseMetric(k, d, weights=w)
    for xb, yb in batches:
        tm.update(xb, yb)
    out["torchmetrics"] = tm.compute()
    try:
        from collapsekit.integrations.lightning_callback import CollapseCallback

        stats = ClassStats(k, d)
        for xb, yb in batches:
            stats.update(xb, yb)
        out["lightning"] = CollapseCallback("x", k, d)._ssl_values(stats)[0]
    except ImportError:
        pass
    profile = ck.analyze_layers(nn.Sequential(nn.Identity()), batches, layers=["0"])
    out["layer profile"] = profile.layers["0"]
    from typer.testing import CliRunner

    from collapsekit.cli.main import app

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x.numpy())
        np.save(Path(tmp) / "y.npy", y.numpy())
        np.save(Path(tmp) / "w.npy", w.numpy())
        report = Path(tmp) / "r.json"
        args = ["analyze", f"{tmp}/x.npy", "--labels", f"{tmp}/y.npy", "-w", f"{tmp}/w.npy"]
        result = CliRunner().invoke(app, [*args, "--bootstrap", "0", "--json", str(report)])
        if result.exit_code != 0:
            raise SystemExit(result.output)
        import json

        out["CLI"] = json.loads(report.read_text())["metrics"]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--rank", type=int, default=12)
    p.add_argument("--k", type=int, default=4)
    a = p.parse_args()
    x, y, w = rows(a.n, a.d, a.rank, a.k)
    got = entry_points(x, y, w)
    base = got["analyze"]
    cols = [c for c in got if c != "analyze"]
    print(f"N={a.n} D={a.d} rank={a.rank} K={a.k}, float32 rows with an offset")
    print("| metric | analyze | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    compared = worst = 0.0
    for key in (k for k in base if not k.startswith("per_class_effective_rank_")):
        ref = base[key]
        cells = []
        for c in cols:
            v = got[c].get(key)
            if not isinstance(v, float) or (math.isnan(v) and math.isnan(ref)):
                cells.append("-" if v is None else "equal")
                continue
            rel = 0.0 if v == ref else abs(v - ref) / max(abs(ref), 1e-300)
            compared += 1
            worst = max(worst, rel)
            cells.append(f"{rel:.0e}" if rel else "0")
        print(f"| {key} | {ref:.6g} | " + " | ".join(cells) + " |")
    print(f"\n{int(compared)} comparisons, largest relative difference {worst:.1e}")


if __name__ == "__main__":
    main()
