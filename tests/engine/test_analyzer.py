"""The engine: streamed == in-memory, any label values, weights matched explicitly,
merge / state_dict / all_reduce, and the report's consistency rules."""

import math

import numpy as np
import pytest
import torch

import collapsekit as ck
from collapsekit import Analyzer, analyze
from references import blobs


@pytest.fixture(scope="module")
def data():
    X, y = blobs(900, 5, 24, seed=3, sep=1.2)
    W = np.random.default_rng(5).standard_normal((5, 24))
    ref = X @ np.random.default_rng(6).standard_normal((24, 10)) + 0.3 * np.random.default_rng(
        7
    ).standard_normal((900, 10))
    return X.astype(np.float32), y.astype(np.int64), W, ref.astype(np.float32)


def _exact_keys(report):
    return [k for k, p in report.provenance.items() if p.startswith("exact")]


def _assert_same(a, b, keys, rel=1e-6):
    for key in keys:
        va, vb = a.metrics[key], b.metrics[key]
        if math.isnan(va):
            assert math.isnan(vb), key
        else:
            assert vb == pytest.approx(va, rel=rel, abs=1e-12), key


def test_every_metric_has_provenance_and_counts_sum_to_n(data):
    X, y, W, ref = data
    r = analyze(X, y, weights=W, reference=ref, ood_features=X[:50] + 3, bootstrap=0)
    assert set(r.provenance) == set(r.metrics)
    assert all(p.startswith(("exact", "sample")) for p in r.provenance.values())
    assert sum(r.inputs["class_counts"].values()) == r.inputs["n"] == 900
    for key in (
        "nc1",
        "effective_rank",
        "rankme",
        "std_of_l2_normalized",
        "linear_cka",
        "linear_cka_debiased",
        "centroid_similarity",
        "ood_orthogonality",
    ):
        assert r.provenance[key].startswith("exact over all 900 rows"), key


@pytest.mark.parametrize("kind", ["generator", "list", "dataloader", "callable"])
def test_streamed_sources_equal_in_memory(kind, data):
    X, y, W, ref = data
    full = analyze(X, y, weights=W, reference=ref, bootstrap=0, sample_rows=300)
    batches = [
        (
            torch.from_numpy(X[i : i + 128]),
            torch.from_numpy(y[i : i + 128]),
            torch.from_numpy(ref[i : i + 128]),
        )
        for i in range(0, 900, 128)
    ]
    if kind == "generator":
        source = (b for b in batches)
    elif kind == "list":
        source = batches
    elif kind == "callable":
        source = lambda: iter(batches)  # noqa: E731
    else:
        ds = torch.utils.data.TensorDataset(
            torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(ref)
        )
        source = torch.utils.data.DataLoader(ds, batch_size=100, shuffle=False)
    streamed = analyze(source, weights=W, bootstrap=0, sample_rows=300)
    exact = _exact_keys(full)
    assert "nc1" in exact and "linear_cka_debiased" in exact
    _assert_same(
        full,
        streamed,
        [
            k
            for k in exact
            if k in streamed.provenance and streamed.provenance[k].startswith("exact")
        ],
    )
    if kind == "generator":  # one pass: the per-row metrics come from the sample
        assert streamed.provenance["silhouette"].startswith("sample of 300 rows")
        assert streamed.provenance["ncc_agreement"].startswith("sample of 300 rows")
    else:  # read twice: exact
        for key in ("silhouette", "loo_centroid_stability", "ncc_agreement"):
            assert streamed.provenance[key] == "exact over all 900 rows (second pass)"
            assert streamed.metrics[key] == pytest.approx(full.metrics[key], rel=1e-6)
    # the sample is the same rows however the data were batched: sample metrics agree too
    assert streamed.metrics["linear_probe_accuracy"] == full.metrics["linear_probe_accuracy"]
    assert streamed.metrics["uniformity"] == pytest.approx(full.metrics["uniformity"], rel=1e-6)


def test_exact_metrics_match_the_functional_kernels(data):
    X, y, W, ref = data
    r = analyze(X, y, weights=W, reference=ref, bootstrap=0)
    x64 = torch.from_numpy(X).double()
    nc = ck.neural_collapse(x64, y, weights=W)
    for key, value in nc.items():
        assert r.metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
    f = ck.functional
    assert r.metrics["effective_rank"] == pytest.approx(f.effective_rank(x64), rel=1e-6)
    assert r.metrics["rankme"] == pytest.approx(f.rankme(x64), rel=1e-6)
    assert r.metrics["std_of_l2_normalized"] == pytest.approx(f.std_of_l2_normalized(x64), rel=1e-6)
    assert r.metrics["silhouette"] == pytest.approx(f.silhouette(x64, y), rel=1e-6)
    assert r.metrics["loo_centroid_stability"] == pytest.approx(
        f.loo_centroid_stability(x64, y), rel=1e-5
    )
    assert r.metrics["centroid_similarity"] == pytest.approx(
        f.centroid_similarity(x64, y), rel=1e-6
    )
    r64 = torch.from_numpy(ref).double()
    assert r.metrics["linear_cka"] == pytest.approx(f.linear_cka(x64, r64), rel=1e-6)
    assert r.metrics["linear_cka_debiased"] == pytest.approx(
        f.linear_cka(x64, r64, debiased=True), rel=1e-6
    )
    ranks = f.per_class_effective_rank(x64, y)
    for c, value in ranks.items():
        assert r.metrics[f"per_class_effective_rank_{c}"] == pytest.approx(value, rel=1e-6)


def test_large_offset_and_half_precision_stay_exact(data):
    X, y, _, _ = data
    shifted = X.astype(np.float64) + 1e4
    r = analyze(shifted.astype(np.float32), y, bootstrap=0, probe=False)
    ref = ck.neural_collapse(torch.from_numpy(shifted.astype(np.float32)).double(), y)
    assert r.metrics["nc1"] == pytest.approx(ref["nc1"], rel=1e-6)
    half = torch.from_numpy(X).to(torch.bfloat16)
    rh = analyze(half, y, bootstrap=0, probe=False)
    refh = ck.neural_collapse(half.double(), y)
    assert rh.metrics["nc1"] == pytest.approx(refh["nc1"], rel=1e-6)


def test_string_sparse_and_huge_labels_give_the_same_numbers(data):
    X, y, _, _ = data
    base = analyze(X, y, bootstrap=0, probe=False)
    names = np.array(["cat", "dog", "eel", "fox", "gnu"])[y]
    sparse = np.array([3, 10**12, -7, 2**62, 2**40])[y]
    for labels in (names, sparse, list(names)):
        r = analyze(X, labels, bootstrap=0, probe=False)
        _assert_same(base, r, [k for k in base.metrics if not k.startswith("per_class_")])
    r = analyze(X, sparse, bootstrap=0, probe=False)
    assert set(r.inputs["class_names"]) == {str(v) for v in (3, 10**12, -7, 2**62, 2**40)}
    assert r.inputs["class_names"] == sorted(r.inputs["class_names"], key=int)


def test_memory_follows_distinct_classes_not_label_values():
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    a = Analyzer()
    a.update(x, torch.tensor([2**62, 5] * 20))
    assert a.capacity <= 16 and a.class_stats.num_classes == a.capacity


def test_string_labels_with_weights_need_a_class_order(data):
    X, y, W, _ = data
    names = np.array(["e", "d", "c", "b", "a"])[y]  # alphabetical order != weight order
    with pytest.raises(ValueError, match="class_names"):
        analyze(X, names, weights=W, bootstrap=0)
    order = ["e", "d", "c", "b", "a"]  # weight row j is class order[j]
    named = analyze(X, names, weights=W, class_names=order, bootstrap=0, probe=False)
    plain = analyze(X, y, weights=W, bootstrap=0, probe=False)
    assert named.metrics["ncc_agreement"] == plain.metrics["ncc_agreement"]
    assert named.metrics["self_duality"] == pytest.approx(plain.metrics["self_duality"], rel=1e-9)
    with pytest.raises(ValueError, match="class_names"):
        analyze(X, names, class_names=["a", "b"], bootstrap=0)


def test_classifier_with_more_rows_than_classes_streamed(data):
    X, y, W, _ = data
    W8 = np.vstack([W, np.random.default_rng(9).standard_normal((3, 24))])
    stream = ((X[i : i + 200], y[i : i + 200]) for i in range(0, 900, 200))
    r = analyze(stream, weights=W8, bootstrap=0)
    assert "self_duality" in r.metrics and 0 <= r.metrics["ncc_agreement"] <= 1
    with pytest.raises(ValueError, match="weights: expected a row for every class index"):
        analyze(X, y + 10, weights=W, bootstrap=0)


def test_merge_and_state_dict_equal_one_pass(data):
    X, y, W, ref = data
    one = Analyzer(sample_rows=10_000)
    one.update(X, y, ref)
    a, b = Analyzer(sample_rows=10_000), Analyzer(sample_rows=10_000)
    a.update(X[:400][::-1].copy(), y[:400][::-1].copy(), ref[:400][::-1].copy())  # other order
    b.update(X[400:], y[400:], ref[400:])
    resumed = Analyzer()
    resumed.load_state_dict(b.state_dict())
    a.merge(resumed)
    ra, r1 = a.compute(weights=W, bootstrap=0), one.compute(weights=W, bootstrap=0)
    _assert_same(r1, ra, _exact_keys(r1))
    assert ra.inputs["class_counts"] == r1.inputs["class_counts"]
    with pytest.raises(ValueError, match=r"state: expected an Analyzer\.state_dict"):
        Analyzer().load_state_dict({"version": 99})


def test_bad_batches_lose_nothing(data):
    X, y, _, _ = data
    a = Analyzer()
    a.update(X[:100], y[:100])
    before = a.state_dict()
    bad = X[100:200].copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="features: expected finite values"):
        a.update(bad, y[100:200])
    with pytest.raises(TypeError, match="labels"):
        a.update(X[100:200], np.array(["a"] * 100))
    with pytest.raises(ValueError, match="labels: expected integer class labels"):
        a.update(X[100:102], np.array([1.0, np.nan]))
    after = a.state_dict()
    assert after["n_rows"] == before["n_rows"] and after["encoder"] == before["encoder"]
    assert torch.equal(after["class_stats"]["scatter"], before["class_stats"]["scatter"])


def test_intervals_contain_their_values_and_come_from_the_same_rows(data):
    X, y, _, ref = data
    small = analyze(X[:120], y[:120], reference=ref[:120], seed=1)
    assert small.intervals
    for key, (lo, hi) in small.intervals.items():
        assert lo <= small.metrics[key] <= hi, key
    big = analyze(X, y, bootstrap=50, sample_rows=200)
    assert big.intervals == {}
    assert any("bootstrap intervals skipped" in note for note in big.inputs["notes"])


def test_unlabelled_stream(data):
    X, _, _, _ = data
    r = analyze(iter([X[:500], X[500:]]), bootstrap=0)
    assert "nc1" not in r.metrics and r.inputs["labels"] is False
    assert r.metrics["effective_rank"] == pytest.approx(
        ck.functional.effective_rank(torch.from_numpy(X).double()), rel=1e-6
    )


def test_bad_parameters_name_themselves(data):
    X, y, _, _ = data
    for kwargs, name in (
        ({"interval_level": 1.5}, "interval_level"),
        ({"bootstrap": -1}, "bootstrap"),
        ({"probe_folds": 1}, "probe_folds"),
        ({"uniformity_rows": 0}, "uniformity_rows"),
        ({"sample_rows": 0}, "sample_rows"),
        ({"batch_size": -5}, "batch_size"),
    ):
        with pytest.raises(ValueError, match=name):
            analyze(X, y, **kwargs)


def test_too_many_classes_for_the_machine_is_a_clear_error(monkeypatch):
    import collapsekit.engine.budget as budget

    monkeypatch.setattr(budget, "physical_memory_bytes", lambda: 2**24)  # a 16 MiB machine
    a = Analyzer()
    a.update(torch.randn(4, 64), torch.tensor([0, 1, 2, 3]))
    before = a.state_dict()
    with pytest.raises(ValueError, match="distinct classes x 64 features need about"):
        a.update(torch.randn(20_000, 64), torch.arange(20_000))
    assert a.state_dict()["encoder"] == before["encoder"]
    with pytest.raises(ValueError, match="distinct classes"):
        Analyzer().update(torch.randn(20_000, 64), torch.arange(20_000))


def test_neco_next_to_nc5_matches_the_kernel(data):
    X, y, _, _ = data
    ood = np.random.default_rng(11).standard_normal((60, 24)).astype(np.float32) * 3
    r = analyze(X, y, ood_features=ood, bootstrap=0, probe=False)
    want = ck.functional.neco_score(torch.from_numpy(ood), torch.from_numpy(X).double(), 4)
    assert r.metrics["neco_ood_mean"] == pytest.approx(float(want.mean()), rel=1e-6)
    assert r.provenance["neco_ood_mean"].startswith("exact")
    ident = ck.functional.neco_score(torch.from_numpy(X), torch.from_numpy(X).double(), 4)
    assert r.metrics["neco_id_mean"] == pytest.approx(float(ident.mean()), rel=1e-6)
    assert r.metrics["neco_id_mean"] > r.metrics["neco_ood_mean"]


def test_findings_and_thresholds_survive_json_and_reach_the_report(data, tmp_path):
    X, y, _, _ = data
    X = X.copy()
    X[y == 4] = X[y == 4] - X[y == 4].mean(0) + X[y == 2].mean(0)  # class 4 merged into 2
    names = np.array(["a", "b", "c", "d", "e"])[y]
    rules = ck.Thresholds().replace(neural_nc1=0.05)
    r = analyze(X, names, bootstrap=0, probe=False, thresholds=rules)
    assert r.verdict.label == "partial class collapse"
    assert [f.classes for f in r.verdict.findings] == [("c", "e")]
    assert r.verdict.thresholds["neural_nc1"] == 0.05
    back = ck.Report.from_json(r.to_json())
    assert back.verdict.findings == r.verdict.findings
    assert back.provenance == r.provenance
    with pytest.raises(TypeError, match="thresholds"):
        analyze(X, names, thresholds={"neural_nc1": 0.05})


def test_all_zero_rows_read_as_complete_collapse_not_an_error():
    r = analyze(torch.zeros(30, 4), np.arange(30) % 3, bootstrap=0)
    assert r.verdict.label == "complete collapse"
    assert "uniformity" not in r.metrics
    assert any("all-zero" in note for note in r.inputs["notes"])
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    x[:5] = 0
    r = analyze(x, np.arange(30) % 3, bootstrap=0)
    assert r.provenance["uniformity"] == "sample of 25 non-zero rows of 30"
    assert r.metrics["uniformity"] == pytest.approx(ck.functional.uniformity(x[5:]), rel=1e-6)


def test_uniformity_sampled_by_default_and_per_class_ranks_exact_without_scatters():
    g = torch.Generator().manual_seed(5)
    y = torch.arange(4200) % 3
    x = torch.randn(3, 6, generator=g)[y] + torch.randn(4200, 6, generator=g)
    r = analyze(x, y, bootstrap=0, probe=False)
    assert r.provenance["uniformity"] == "sample of 4096 rows of 4200 (seeded, uniform)"
    assert r.metrics["uniformity"] == pytest.approx(ck.functional.uniformity(x), abs=0.01)
    exact = analyze(x, y, bootstrap=0, probe=False, uniformity_rows=None)
    assert exact.metrics["uniformity"] == pytest.approx(ck.functional.uniformity(x), rel=1e-6)
    # every row fits the sample: ranks from the rows themselves, no per-class D x D scatters
    ranks = ck.functional.per_class_effective_rank(x, y)
    for c in range(3):
        assert r.metrics[f"per_class_effective_rank_{c}"] == pytest.approx(ranks[c], rel=1e-9)
    assert "every row held in the sample" in r.provenance["per_class_effective_rank_0"]
    # streamed past the sample: the scatters give the same ranks, exact in one pass
    streamed = analyze(x, y, bootstrap=0, probe=False, sample_rows=1000)
    assert "one pass" in streamed.provenance["per_class_effective_rank_0"]
    for c in range(3):
        key = f"per_class_effective_rank_{c}"
        assert streamed.metrics[key] == pytest.approx(ranks[c], rel=1e-6)


def _per_class_ranks_match(report, x, y):
    ranks = ck.functional.per_class_effective_rank(x.double(), y)
    for c, value in ranks.items():
        key = f"per_class_effective_rank_{c}"
        assert report.metrics[key] == pytest.approx(value, rel=1e-6), key
        assert "one pass" in report.provenance[key]


def test_per_class_scatters_start_from_the_sample_when_it_overflows():
    # the scatters start only when the sample stops holding every row: from the held rows
    # (batches 1-2 here), then they stream; merged and checkpointed states do the same
    g = torch.Generator().manual_seed(8)
    y = torch.arange(300) % 3
    x = torch.randn(3, 5, generator=g)[y] + torch.randn(300, 5, generator=g) * (1 + y[:, None])
    a = Analyzer(sample_rows=100)
    for lo in range(0, 300, 48):
        a.update(x[lo : lo + 48], y[lo : lo + 48])
        assert (a.per_class is None) == (a.n_rows <= 100)
    _per_class_ranks_match(a.compute(probe=False, bootstrap=0), x, y)
    # two states that each still hold every row, merged past the sample size
    first, second = Analyzer(sample_rows=100), Analyzer(sample_rows=100)
    first.update(x[:90], y[:90])
    second.update(x[90:180], y[90:180])
    assert first.per_class_pending and second.per_class_pending
    first.merge(second)
    first.update(x[180:], y[180:])
    _per_class_ranks_match(first.compute(probe=False, bootstrap=0), x, y)
    # a checkpoint taken while pending resumes and streams past the sample
    early = Analyzer(sample_rows=100)
    early.update(x[:60], y[:60])
    resumed = Analyzer()
    resumed.load_state_dict(early.state_dict())
    assert resumed.per_class_pending
    resumed.update(x[60:], y[60:])
    _per_class_ranks_match(resumed.compute(probe=False, bootstrap=0), x, y)


def test_pending_per_class_scatters_are_dropped_when_the_classes_outgrow_the_budget():
    g = torch.Generator().manual_seed(9)
    a = Analyzer(sample_rows=50, max_memory_mb=1)  # 1 MB: 16 classes x 64^2 x 8 bytes fit
    a.update(torch.randn(20, 64, generator=g), torch.arange(20) % 4)
    assert a.per_class_pending
    a.update(torch.randn(40, 64, generator=g), torch.arange(40))  # 40 classes: 1.3 MB
    assert a.per_class is None and not a.per_class_pending
    r = a.compute(probe=False, bootstrap=0)
    assert "over the 1 MB budget" in " ".join(r.inputs["notes"])


def test_wide_small_cohort_spectra_from_the_rows_equal_the_moments():
    # N < D with every row held: spectra from the N x N Gram of the rows; a sample smaller
    # than N forces the D x D moments instead; both exact
    g = torch.Generator().manual_seed(11)
    y = torch.arange(40) % 4
    x = torch.randn(4, 300, generator=g)[y] + torch.randn(40, 300, generator=g) + 5.0
    rows = analyze(x, y, bootstrap=0, probe=False)
    moments = analyze(x, y, bootstrap=0, probe=False, sample_rows=39)
    assert "every row held" in rows.provenance["effective_rank"]
    assert "one pass" in moments.provenance["effective_rank"]
    for key in ("effective_rank", "effective_rank_score", "rankme", "alpha_req"):
        assert rows.metrics[key] == pytest.approx(moments.metrics[key], rel=1e-6), key
    x64 = x.double()
    assert rows.metrics["rankme"] == pytest.approx(ck.functional.rankme(x64), rel=1e-9)
    assert rows.metrics["effective_rank"] == pytest.approx(
        ck.functional.effective_rank(x64), rel=1e-9
    )
    assert rows.spectrum["data"] == pytest.approx(moments.spectrum["data"], rel=1e-5, abs=1e-12)


def test_a_batch_widened_to_float64_mid_stream_is_accepted():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(60, 4, generator=g)
    y = torch.arange(60) % 3
    a = Analyzer(sample_rows=40)
    a.update(x[:30], y[:30])
    a.update(x[30:] * 1e30, y[30:])  # float32 beyond 2^60: accumulated in float64
    assert a.n_rows == 60 and a.reservoir.size == 40
    assert a.compute(probe=False, bootstrap=0).metrics["nc1"] > 0


# ---------------------------------------------------------------- spectra of float32 input
def _float64_svd_reference(x, fit_range):
    """Spectral metrics of numpy's float64 SVD of the stored values (independent of the engine)."""
    x64 = x.double().numpy()
    s = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)
    raw = np.linalg.svd(x64, compute_uv=False)

    def entropy(v, eps=0.0):
        p = v / v.sum() + eps
        p = p[p > 0]
        return float(np.exp(-(p * np.log(p)).sum()))

    lam = s[fit_range[0] - 1 : fit_range[1]] ** 2
    ranks = np.arange(fit_range[0], fit_range[0] + lam.size)
    slope = np.polyfit(np.log(ranks), np.log(lam), 1)[0]
    n, d = x.shape
    return {
        "effective_rank": entropy(s),
        "effective_rank_score": 1.0 - entropy(s) / min(n - 1, d),
        "rankme": entropy(raw[: min(n, d)], 1e-7),
        "alpha_req": -float(slope),
    }


def _spectrum_case(kind):
    g = torch.Generator().manual_seed(11)
    if kind == "full rank, offset 1e4":
        x = 1e4 + torch.randn(2000, 256, generator=g, dtype=torch.float64)
        return x.to(torch.float32), (11, 100), 1e-6
    rank, dim, offset, rel = {
        "rank 3 in 768": (3, 768, 0.0, 1e-4),
        "rank 10 in 128": (10, 128, 0.0, 1e-4),
        "rank 5 in 768, offset 10": (5, 768, 10.0, 1e-4),
        "rank 5 in 768, offset 100": (5, 768, 100.0, 1e-3),
    }[kind]
    a = torch.randn(2000, rank, generator=g, dtype=torch.float64)
    x = a @ torch.randn(rank, dim, generator=g, dtype=torch.float64) + offset
    return x.to(torch.float32), (2, rank), rel


@pytest.mark.parametrize(
    "kind",
    [
        "full rank, offset 1e4",
        "rank 3 in 768",
        "rank 10 in 128",
        "rank 5 in 768, offset 10",
        "rank 5 in 768, offset 100",
    ],
)
def test_spectra_of_float32_input_match_a_float64_svd_of_the_stored_values(kind):
    # rank-deficient data: the tail is the float32 storage round-off, below the float64
    # eigensolver's floor on a D x D moment; offset 100 puts it closer (docs/metrics.md)
    x, fit_range, rel = _spectrum_case(kind)
    ref = _float64_svd_reference(x, fit_range)
    keys = ["effective_rank", "effective_rank_score", "rankme"]
    routes = {
        "in memory": analyze(x, bootstrap=0, probe=False).metrics,
        "streamed": analyze(
            iter([(b,) for b in x.split(700)]), bootstrap=0, probe=False, sample_rows=500
        ).metrics,
    }
    streamed = Analyzer(sample_rows=500, alpha_fit_range=fit_range)
    for b in x.split(700):
        streamed.update(b)
    routes["exact_metrics"] = streamed.exact_metrics()
    for route, got in routes.items():
        checked = [*keys, "alpha_req"] if route == "exact_metrics" else keys
        for key in checked:
            assert got[key] == pytest.approx(ref[key], rel=rel), (route, key)


def test_complete_mapping_equals_the_set_based_map():
    from collapsekit.engine.distributed import complete_mapping

    g = torch.Generator().manual_seed(0)
    for k in (1, 5, 300):
        for used in (0, k // 2, k):
            mapping = torch.randperm(k, generator=g)[:used]
            spare = [i for i in range(k) if i not in set(mapping.tolist())]  # the old O(K^2)
            assert complete_mapping(mapping, k).tolist() == mapping.tolist() + spare


def test_merge_of_many_classes_matches_one_analyzer():
    k = 4_000
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4 * k, 8, generator=g, dtype=torch.float64)
    y = torch.arange(k).repeat(4)
    a, b, whole = Analyzer(), Analyzer(), Analyzer()
    a.update(x[: 2 * k], y[: 2 * k])
    b.update(x[2 * k :], (y[2 * k :] + k // 2) % k)  # the same classes in another order
    whole.update(x[: 2 * k], y[: 2 * k])
    whole.update(x[2 * k :], (y[2 * k :] + k // 2) % k)
    merged = a.merge(b).exact_metrics(metrics=["nc1", "effective_rank"])
    assert merged == pytest.approx(whole.exact_metrics(metrics=["nc1", "effective_rank"]), rel=1e-9)


def test_encoder_names_follow_new_classes():
    from collapsekit.engine.labels import LabelEncoder

    enc = LabelEncoder()
    enc.encode([3, 1], torch.device("cpu"))
    first = enc.names
    assert enc.names is first  # one list while no class is added
    enc.encode([9], torch.device("cpu"))
    assert enc.names == ["1", "3", "9"]
    enc.load_state_dict({"kind": "str", "values": ["a"], "class_names": None})
    assert enc.names == ["a"]


def test_float32_precision_is_close_to_float64_and_says_so():
    from collapsekit import analyze

    g = torch.Generator().manual_seed(1)
    y = torch.arange(1200) % 6
    x = torch.randn(6, 32, generator=g)[y] * 2 + torch.randn(1200, 32, generator=g)
    keys = ["nc1", "cdnv", "effective_rank", "std_of_l2_normalized", "silhouette"]
    exact = analyze(x, y, bootstrap=0, probe=False, metrics=keys, batch_size=256)
    fast = analyze(
        x, y, bootstrap=0, probe=False, metrics=keys, batch_size=256, precision="float32"
    )
    for key in keys:
        assert fast.metrics[key] == pytest.approx(exact.metrics[key], rel=1e-5), key
    assert "float32 products" in fast.provenance["nc1"]
    assert "float32 products" not in exact.provenance["nc1"]


@pytest.mark.parametrize("scale", [1e16, 1e17])  # past 2^48: float32 squares could overflow
def test_float32_precision_takes_huge_rows_in_float64(scale: float) -> None:
    g = torch.Generator().manual_seed(2)
    y = torch.arange(600) % 3
    x = (
        (torch.randn(3, 16, generator=g)[y] * 2 + torch.randn(600, 16, generator=g)) * scale
    ).float()
    fast, exact = Analyzer(precision="float32"), Analyzer()
    for xb, yb in zip(x.split(200), y.split(200), strict=True):
        fast.update(xb, yb)
        exact.update(xb, yb)
    a, b = fast.exact_metrics(), exact.exact_metrics()
    for key in ("nc1", "cdnv", "effective_rank", "std_of_l2_normalized"):
        assert math.isfinite(a[key]), key
        assert a[key] == pytest.approx(b[key], rel=1e-9), key


def test_precision_survives_a_state_round_trip():
    a = Analyzer(precision="float32")
    a.update(torch.randn(40, 5), torch.arange(40) % 2)
    b = Analyzer()
    b.load_state_dict(a.state_dict())
    assert b.precision == "float32" and b.class_stats is not None
    assert b.class_stats.precision == "float32"
    with pytest.raises(ValueError, match="precision: expected"):
        Analyzer(precision="float16")  # type: ignore[arg-type]
