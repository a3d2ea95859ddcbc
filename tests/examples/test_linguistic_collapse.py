"""examples/linguistic_collapse.py: the language-model walk-through, at toy scale.

Checks that the script runs end to end (tokenizer, training, checkpoints, history, throughput
file) and that its numbers are the engine's exact ones: NC4 agreement and CDNV of the held-out
positions against a float64 numpy computation on the same features, with the empty-class rule
the script documents (tokens that never occur are not classes; the classifier still predicts
over the whole vocabulary).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest
import torch

pytest.importorskip("tokenizers")

PATH = pathlib.Path(__file__).parents[2] / "examples" / "linguistic_collapse.py"


def _example():
    spec = importlib.util.spec_from_file_location("linguistic_collapse", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_end_to_end(tmp_path):
    ex = _example()
    ex.main(
        [
            "--out", str(tmp_path), "--corpus-mb", "0.15", "--vocab", "320", "--width", "16",
            "--layers", "1", "--heads", "2", "--context", "16", "--batch", "4", "--steps", "3",
            "--checkpoints", "0", "3", "--heldout-windows", "40",
        ]
    )  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 3]
    for r in rows:
        assert 0.0 <= r["ncc_agreement"] <= 1.0
        assert r["cdnv"] > 0 and r["equinorm"] >= 0
        assert 1 < r["classes_present"] <= 320
    timing = json.loads((tmp_path / "throughput.json").read_text())
    assert timing["checkpoints"][0]["tokens"] == 40 * 16
    assert timing["peak_rss_mb"] > 0


def _ref_ncc_and_cdnv(h: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    classes = np.unique(y)  # tokens that occur: the classes
    means = np.stack([h[y == c].mean(0) for c in classes])
    var = np.array([((h[y == c] - means[i]) ** 2).sum(1).mean() for i, c in enumerate(classes)])
    d2 = ((h[:, None, :] - means[None]) ** 2).sum(-1)
    ncc = classes[d2.argmin(1)]
    model = (h @ w.T).argmax(1)  # the whole vocabulary
    agreement = float((ncc == model).mean())
    iu = np.triu_indices(len(classes), 1)
    dist2 = ((means[:, None] - means[None]) ** 2).sum(-1)[iu]
    cdnv = float(((var[:, None] + var[None])[iu] / (2 * dist2)).mean())
    return agreement, cdnv


def test_metrics_match_a_float64_reference():
    ex = _example()
    torch.manual_seed(0)
    vocab, ctx = 50, 8
    model = ex.TinyCausalLM(vocab, width=12, layers=1, heads=2, context=ctx)
    ids = torch.randint(0, vocab // 2, (30 * ctx + 1,))  # half the vocabulary never occurs
    x, y = ex.windows(ids, ctx)
    values, timing = ex.analyse(model, x, y, rows=7)
    feats = torch.cat([h for h, _ in ex.heldout_batches(model, x, y, 7)]).double().numpy()
    labels = y.reshape(-1).numpy()
    agreement, cdnv = _ref_ncc_and_cdnv(
        feats, labels, model.unembed.weight.detach().double().numpy()
    )
    assert timing["classes_present"] == len(np.unique(labels)) < vocab
    assert values["ncc_agreement"] == pytest.approx(agreement, abs=1e-12)
    assert values["cdnv"] == pytest.approx(cdnv, rel=1e-9)
