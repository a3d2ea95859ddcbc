"""Layer-wise profile: one pass equals per-layer in-memory metrics, pooling rules, NCC accuracy
from a second pass, the separation-law fit, HTML/SVG/JSON output."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from collapsekit import functional as F
from collapsekit.profile import analyze_layers, pool_features, separation_law_fit


def data(n=240, d=6, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = torch.randn(n, d, generator=g)
    x[:, :k] += 3 * torch.eye(k)[y]
    return x, y


def net(d=6, k=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, k))


def manual_features(model, x, names):
    out = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(
            lambda m, i, o, n=n: out.__setitem__(n, o.detach())
        )
        for n in names
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def test_one_pass_equals_per_layer_metrics_and_ncc():
    x, y = data()
    model = net()
    names = ["0", "1", "3", "4"]
    batches = list(zip(x.split(50), y.split(50), strict=True))
    profile = analyze_layers(model, batches, layers=names)
    feats = manual_features(model.eval(), x, names)
    for name in names:
        f = feats[name].double()
        ref = F.neural_collapse(f, y)
        row = profile.layers[name]
        assert row["nc1"] == pytest.approx(ref["nc1"], rel=1e-6), name
        assert row["cdnv"] == pytest.approx(ref["cdnv"], rel=1e-6), name
        assert row["effective_rank"] == pytest.approx(F.effective_rank(f), rel=1e-6), name
        fn = f.numpy()
        means = np.stack([fn[y.numpy() == c].mean(0) for c in range(4)])
        nearest = ((fn[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
        assert row["ncc_accuracy"] == pytest.approx((nearest == y.numpy()).mean()), name
        assert row["dim"] == f.shape[1] and row["num_samples"] == len(y)
    fuzziness = [profile.layers[n]["separation_fuzziness"] for n in names]
    assert profile.separation_law == pytest.approx(separation_law_fit(fuzziness))
    # balanced classes: D = K x NC1, so the NC1 fit has the same slope (rho) and r2
    nc1 = [profile.layers[n]["nc1"] for n in names]
    assert fuzziness == pytest.approx([4 * v for v in nc1], rel=1e-9)
    by_nc1 = analyze_layers(model, batches, layers=names, separation_metric="nc1")
    assert by_nc1.separation_law == pytest.approx(separation_law_fit(nc1))
    assert by_nc1.separation_law["rho"] == pytest.approx(profile.separation_law["rho"], rel=1e-9)
    assert model.training is False  # net() was put in eval above by manual_features
    model.train()
    analyze_layers(model, batches, layers=["4"])
    assert model.training  # mode restored


def test_separation_law_fit_known_answers():
    fit = separation_law_fit([2.0 * 0.3**i for i in range(6)])
    assert fit["rho"] == pytest.approx(0.3) and fit["r2"] == pytest.approx(1.0)
    noisy = separation_law_fit([1.0, 0.4, 0.3, 0.05])
    xs, ys = np.arange(4), np.log([1.0, 0.4, 0.3, 0.05])
    slope, intercept = np.polyfit(xs, ys, 1)
    resid = ys - (intercept + slope * xs)
    assert noisy["rho"] == pytest.approx(math.exp(slope))
    assert noisy["r2"] == pytest.approx(1 - resid @ resid / ((ys - ys.mean()) @ (ys - ys.mean())))
    gap = separation_law_fit([1.0, float("nan"), 0.25])  # the NaN layer keeps its index
    assert gap["rho"] == pytest.approx(0.5) and gap["num_layers"] == 2
    assert math.isnan(separation_law_fit([1.0])["rho"])


def test_pooling_rules_conv_tokens_and_conv1d():
    assert torch.equal(
        pool_features(torch.arange(24.0).view(1, 2, 3, 4)), torch.tensor([[5.5, 17.5]])
    )
    t = torch.randn(3, 5, 7)
    assert torch.equal(pool_features(t), t.mean(1))  # (B, T, D): mean over tokens
    assert torch.equal(pool_features(t, channels_first=True), t.mean(2))  # Conv1d (B, C, L)
    assert torch.equal(pool_features(t, "max"), t.amax(1))
    assert pool_features(t, "flatten").shape == (3, 35)
    conv = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU())
    x = torch.randn(40, 1, 6, 6)
    y = torch.arange(40) % 2
    profile = analyze_layers(conv, [(x, y)], layers=["0", "1"])
    assert profile.layers["0"]["dim"] == 3
    ref = F.neural_collapse(conv[0](x).detach().mean((2, 3)).double(), y)
    assert profile.layers["0"]["nc1"] == pytest.approx(ref["nc1"], rel=1e-6)
    seq = nn.Sequential(nn.Conv1d(2, 4, 3))
    prof1d = analyze_layers(seq, [(torch.randn(30, 2, 9), torch.arange(30) % 3)], layers=["0"])
    assert prof1d.layers["0"]["dim"] == 4  # channels kept, positions pooled


def test_one_shot_iterator_skips_ncc_and_classes_grow():
    x, y = data(k=5)
    model = net(k=5)
    order = torch.argsort(y, stable=True)  # classes 3 and 4 only appear in late batches
    batches = iter(list(zip(x[order].split(60), y[order].split(60), strict=True)))
    profile = analyze_layers(model, batches, layers=["2", "4"])
    assert math.isnan(profile.layers["4"]["ncc_accuracy"])
    assert any("second pass" in n for n in profile.notes)
    ref = F.neural_collapse(manual_features(model, x, ["4"])["4"].double(), y)
    assert profile.layers["4"]["nc1"] == pytest.approx(ref["nc1"], rel=1e-6)


def test_outputs_html_svg_json(tmp_path):
    x, y = data()
    profile = analyze_layers(net(), [(x, y)], layers=["1", "3", "4"])
    page = profile.to_html(tmp_path / "p.html", title="t <&>")
    assert "<svg" in page and "<script" not in page.lower() and "t &lt;&amp;&gt;" in page
    assert (tmp_path / "p.html").read_text(encoding="utf-8") == page
    data_dict = json.loads(json.dumps(profile.to_dict()))
    assert set(data_dict["layers"]) == {"1", "3", "4"}
    assert "rho" in data_dict["separation_law"]
    text = profile.table()
    assert "separation law" in text and "NC1" in text


def test_bad_arguments():
    x, y = data()
    with pytest.raises(ValueError, match="layers: expected names of submodules"):
        analyze_layers(net(), [(x, y)], layers=["nope"])
    with pytest.raises(ValueError, match="layers: expected a non-empty list"):
        analyze_layers(net(), [(x, y)], layers="0")
    with pytest.raises(ValueError, match="pool"):
        analyze_layers(net(), [(x, y)], layers=["0"], pool="median")
    with pytest.raises(ValueError, match="loader: expected at least one batch"):
        analyze_layers(net(), [], layers=["0"])
    with pytest.raises(TypeError, match="batch_fn"):
        analyze_layers(net(), [x], layers=["0"])
    with pytest.raises(ValueError, match="labels: expected class indices < num_classes"):
        analyze_layers(net(), [(x, y)], layers=["0"], num_classes=3)
