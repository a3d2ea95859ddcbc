"""Every page rendered from a report file or a history file is inert whatever the file holds:
markup injected into any string, number or key comes out escaped (or, for the typed numbers
of a report, is refused by ``Report.from_json``), and headless Chromium runs none of it."""

from __future__ import annotations

import copy
import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collapsekit import analyze
from collapsekit.profile.layer_profile import LayerProfile
from collapsekit.render import html as html_module
from collapsekit.render.html import render_history
from collapsekit.report.compare import compare
from collapsekit.report.history import append_history, read_history
from collapsekit.report.report import Report
from references import blobs

PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror=window.__pwned=1>',
    "'><svg onload=window.__pwned=1>",
)
FINDINGS = [
    {
        "kind": "merged classes",
        "classes": ["0", "1"],
        "evidence": {
            "largest_statistic": 1.0,
            "threshold": 2.0,
            "null_mean": 3.0,
            "null_spread": 0.5,
            "alpha": 0.05,
            "effective_dim": 4.0,
            "pairs": [["0", "1", 1.5]],
            "pair_ids": [[0, 1]],
        },
    },
    {
        "kind": "collapsed class",
        "classes": ["2"],
        "evidence": {"variance_ratio": 0.1, "effective_rank": 1.0, "reason": "tiny"},
    },
    {
        "kind": "minority collapse",
        "classes": ["3"],
        "evidence": {"minority_mean_cos": 0.9, "threshold_cos": 0.5, "imbalance": 10.0},
    },
]


@pytest.fixture(scope="module")
def report_dict() -> dict[str, Any]:
    X, y = blobs(240, 4, 12, seed=0)
    report = analyze(X, y, weights=np.eye(4, 12), bootstrap=5, class_names=list("abcd"))
    data = report.to_dict()
    data["verdict"]["findings"] = FINDINGS
    data["verdict"]["tests_not_run"] = ["a test"]
    data["inputs"].setdefault("notes", []).append("a note")
    return data


#: maps of like entries (metric name -> value, ...): their first two entries stand for all
UNIFORM = {"metrics", "baseline", "intervals", "provenance", "per_class_effective_rank", "spectrum"}


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, "value" | "key") of every string and number in a JSON tree, keys included."""
    if isinstance(node, dict):
        items = list(node.items())
        for k, v in items[:2] if path and path[-1] in UNIFORM else items:
            yield (*path, k), "key"
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:2]):  # the first two items of a list stand for all
            yield from _leaves(v, (*path, i))
    elif isinstance(node, str | int | float) and not isinstance(node, bool):
        yield path, "value"


def _inject(data: Any, path: tuple[Any, ...], kind: str, payload: str) -> Any:
    out = copy.deepcopy(data)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "key":
        parent[payload] = parent.pop(last)
    else:
        parent[last] = payload
    return out


def _pages(report: Report) -> dict[str, str]:
    names = (PAYLOADS[0], PAYLOADS[1])
    return {
        "report": report.to_html(),
        "summary": report._repr_html_(),
        "compare": compare(report, report, linear_cka=0.5, names=names).to_html(),
    }


def _assert_inert(page: str, where: str) -> None:
    for tag in ("<script", "<img", "<svg onload"):
        assert tag not in page, f"{where}: {tag} reached the page"


def test_report_fields_are_escaped_or_refused(report_dict, monkeypatch):
    """Each payload in each place: refused with a ValueError naming the field, or rendered
    inert on the report page, the notebook summary and the compare page."""
    # the metric reference is read from docs/metrics.md once instead of on every page
    monkeypatch.setattr(html_module, "doc_section", functools.cache(html_module.doc_section))
    refused, rendered = 0, 0
    schema_path = ("schema",)
    for path, kind in _leaves(report_dict):
        if path == schema_path and kind == "value":
            continue  # a wrong schema is refused before anything is read
        for payload in PAYLOADS:
            text = json.dumps(_inject(report_dict, path, kind, payload))
            try:
                report = Report.from_json(text)
            except ValueError as err:
                assert "report:" in str(err)
                refused += 1
                continue
            for name, page in _pages(report).items():
                _assert_inert(page, f"{name} page with {payload!r} at {path} ({kind})")
            rendered += 1
    assert refused and rendered


@pytest.mark.parametrize("key", ["n", "d", "num_classes", "dtype", "notes"])
def test_report_inputs_render_inert(report_dict, key):
    """The inputs block (the reported injection) is rendered, never refused."""
    for payload in PAYLOADS:
        data = copy.deepcopy(report_dict)
        data["inputs"][key] = payload
        report = Report.from_json(json.dumps(data))
        page = report.to_html()
        _assert_inert(page, f"inputs[{key!r}]")
        _assert_inert(report._repr_html_(), f"summary inputs[{key!r}]")


@pytest.mark.parametrize(
    "field, value",
    [("metrics", "1e3"), ("metrics", True), ("baseline", "<b>"), ("interval_level", "0.9")],
)
def test_report_numbers_must_be_numbers(report_dict, field, value):
    data = copy.deepcopy(report_dict)
    if isinstance(data[field], dict):
        data[field]["effective_rank"] = value
    else:
        data[field] = value
    with pytest.raises(ValueError, match=f"report: {field}.*expected a number or null"):
        Report.from_json(json.dumps(data))


def _history_rows() -> list[dict[str, Any]]:
    return [
        {"epoch": e, "nc1": 1.0 / (e + 1), "train_accuracy": 0.5 + e / 10, "warnings": ["w"]}
        for e in range(4)
    ]


def test_history_fields_render_inert(tmp_path):
    """A payload in any value or key of a history row leaves the tracking page inert."""
    base = _history_rows()
    for path, kind in _leaves(base):
        for payload in PAYLOADS:
            rows = _inject(base, path, kind, payload)
            f = tmp_path / "history.jsonl"
            f.unlink(missing_ok=True)
            for row in rows:
                append_history(f, row)
            _assert_inert(render_history(read_history(f)), f"history {path} ({kind})")


def _profile_with(payload: str) -> LayerProfile:
    layers = {
        payload: {"nc1": payload, "effective_rank": 2.0, "dim": payload, "cdnv": True},
        "b": {"nc1": 0.5, "effective_rank": payload, "dim": 8},
    }
    return LayerProfile(layers, {"rho": payload, "num_layers": payload}, payload, [payload])


def test_layer_profile_page_inert():
    for payload in PAYLOADS:
        _assert_inert(_profile_with(payload).to_html(title=payload), "layer profile")


def _everything_injected(report_dict: dict[str, Any], payload: str) -> dict[str, Any]:
    """The report with the payload in every place that is not refused."""
    data = report_dict
    for path, kind in reversed(list(_leaves(report_dict))):  # keys after what they hold
        if path == ("schema",) and kind == "value":
            continue
        candidate = _inject(data, path, kind, payload)
        try:
            Report.from_json(json.dumps(candidate))
        except (ValueError, KeyError, IndexError):
            continue
        data = candidate
    return data


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium and chromedriver not installed (apt-get install chromium chromium-driver)",
)
def test_nothing_executes_in_chromium(report_dict, tmp_path, tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"):
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    pages: dict[str, str] = {}
    for i, payload in enumerate(PAYLOADS):
        report = Report.from_json(json.dumps(_everything_injected(report_dict, payload)))
        pages.update({f"{name}{i}": page for name, page in _pages(report).items()})
        rows = _history_rows()
        for path, kind in reversed(list(_leaves(rows))):
            rows = _inject(rows, path, kind, payload) if path[-1] != "epoch" else rows
        pages[f"history{i}"] = render_history(rows, payload)
        pages[f"profile{i}"] = _profile_with(payload).to_html(title=payload)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        control = tmp_path / "control.html"  # the check sees a payload that does run
        control.write_text(f"<html><body><div>{PAYLOADS[0]}</div></body></html>")
        driver.get(control.as_uri())
        assert driver.execute_script("return typeof window.__pwned") == "number"
        for name, page in pages.items():
            path = Path(tmp_path / f"{name}.html")
            path.write_text(page, encoding="utf-8")
            driver.get(path.as_uri())
            assert driver.execute_script("return typeof window.__pwned") == "undefined", name
            assert driver.find_elements("css selector", "h1, div"), name  # the page loaded
    finally:
        driver.quit()
