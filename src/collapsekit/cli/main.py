"""The ``collapsekit`` command: analyze, compare, track, demo.

Every error prints one line on stderr and exits with code 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

try:
    import typer
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    sys.stderr.write(
        f"collapsekit: the command-line tool needs typer and rich ({_exc}); "
        "pip install 'collapsekit[cli]'\n"
    )
    raise SystemExit(2) from None

import numpy as np

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Has my model's embedding space collapsed, and how?",
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")
STATE = {"debug": False}

#: files above this size are streamed (exact statistics) plus a random sample of rows
DEFAULT_MAX_MEMORY_MB = 4096


def fail(message: str) -> None:
    """Print one error line (user text is escaped: no rich markup in paths) and exit 2."""
    err.print(
        f"[bold red]collapsekit: error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(2)


def note(message: str) -> None:
    """One informational line on stderr (escaped)."""
    err.print(f"collapsekit: note: {escape(message)}", highlight=False, soft_wrap=True)


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn any failure into one readable line and exit code 2.

    Python warnings raised inside are captured: on failure only the error line is printed;
    on success each distinct warning becomes one ``note:`` line.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        fail("interrupted")
    except Exception as exc:
        if STATE["debug"]:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(msg)
    for text in dict.fromkeys(str(w.message).strip() for w in caught):
        if text:
            note(text.splitlines()[0])
    return result


def check_options(
    batch_size: int | None = None,
    sample_rows: int | None = None,
    bootstrap: int | None = None,
    max_memory_mb: int | None = None,
) -> None:
    """Reject nonsensical numeric options before any work (one clear error line)."""
    from collapsekit._validation import check_nonnegative_int, check_positive_int

    if batch_size is not None:
        check_positive_int(batch_size, "--batch-size")
    if sample_rows is not None:
        check_positive_int(sample_rows, "--sample-rows")
    if bootstrap is not None:
        check_nonnegative_int(bootstrap, "--bootstrap", "0 turns the intervals off")
    if max_memory_mb is not None:
        check_nonnegative_int(max_memory_mb, "--max-memory-mb", "0 streams every file")


def check_outputs(
    outputs: list[tuple[str, Path | None]], inputs: list[Path | None], force: bool
) -> None:
    """Refuse (before any work) to write a report over an input file unless ``--force``."""
    from collapsekit.report.safe_write import refuse_overwriting_inputs

    refuse_overwriting_inputs(outputs, inputs, force)


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one line."),
) -> None:
    """Has my model's embedding space collapsed, and how?"""
    STATE["debug"] = debug


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)


def _load_all(source: Any, batch_size: int, label: str) -> np.ndarray:
    n, d = source.shape
    buf = np.empty(
        (n, d),
        dtype=np.dtype(source.array.dtype)
        if np.dtype(source.array.dtype).kind == "f"
        else np.float32,
    )
    with progress_bar(n, label) as advance:
        for lo, batch in source.batches(batch_size):
            buf[lo : lo + len(batch)] = batch
            advance(len(batch))
    return buf


def _report_for(
    path: Path,
    labels_path: Path | None,
    key: str,
    labels_key: str,
    weights: Path | None,
    reference: Path | None,
    bootstrap: int | None,
    seed: int,
    batch_size: int,
    max_memory_mb: int,
    sample_rows: int,
) -> Any:
    from collapsekit.analyze import analyze
    from collapsekit.cli.large_files import analyze_streamed
    from collapsekit.cli.readers import load_matrix, open_embeddings, read_labels

    source = open_embeddings(path, key, labels_key)
    n = source.shape[0]
    labels, names = read_labels(labels_path, n, source, labels_key)
    w = load_matrix(weights, "weights") if weights else None
    ref = load_matrix(reference) if reference else None
    if ref is not None and ref.shape[0] != n:
        raise ValueError(
            f"--reference: expected {n} rows paired with {path.name} (the same inputs embedded "
            f"by the reference model), received {ref.shape[0]}; CKA of unpaired sets is undefined"
        )
    kwargs: dict[str, Any] = {"weights": w, "reference": ref, "bootstrap": bootstrap}
    if source.nbytes > max_memory_mb * 2**20:
        with progress_bar(n, f"streaming {path.name}") as advance:
            report = analyze_streamed(
                source, labels, sample_rows, batch_size, advance, seed, **kwargs
            )
    else:
        x = _load_all(source, batch_size, f"reading {path.name}")
        report = analyze(x, labels, seed=seed, **kwargs)
    report.inputs["source"] = str(path)
    if names is not None:
        report.inputs["class_names"] = names
    return report


def _print_report(report: Any, title: str) -> None:
    table = Table(title=escape(title), show_lines=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("interval", justify="right")
    table.add_column("isotropic", justify="right")
    for key, value, interval in report.summary_rows():
        if key.startswith("per_class_effective_rank_") and key != "per_class_effective_rank_min":
            continue
        base = report.baseline.get(key)
        table.add_row(key, value, interval, "" if base is None else f"{base:.4g}")
    out.print(table)
    v = report.verdict
    color = "green" if v.label == "healthy" else ("blue" if v.label == "neural collapse" else "red")
    out.print(f"[bold]Verdict:[/] [bold {color}]{v.label}[/]")
    out.print(escape(v.summary), highlight=False)
    for e in v.evidence:
        mark = f"[bold]supports {escape(str(e.indicates))}[/]" if e.fired else "no"
        line = f"  - {e.metric} = {e.value:.4g} (threshold {e.threshold:.4g}; {e.rule}): "
        out.print(escape(line) + mark, highlight=False)
    for text in report.inputs.get("notes", []):
        out.print(f"  note: {escape(str(text))}", highlight=False)


def _write_outputs(report: Any, json_out: Path | None, html_out: Path | None, title: str) -> None:
    if json_out:
        report.to_json(json_out)  # atomic: a failed write keeps the previous file
        out.print(f"wrote {escape(str(json_out))}", highlight=False, soft_wrap=True)
    if html_out:
        report.to_html(html_out, title=title)
        out.print(f"wrote {escape(str(html_out))}", highlight=False, soft_wrap=True)


EMB = typer.Argument(..., help="Embeddings: .npy .npz .pt .safetensors .parquet .h5")
OPT_LABELS = typer.Option(
    None, "--labels", "-l", help="Labels file (or a 'labels' entry in the embeddings file)."
)
OPT_KEY = typer.Option("embeddings", "--key", help="Array key / parquet column of the embeddings.")
OPT_LKEY = typer.Option("labels", "--labels-key", help="Array key / parquet column of the labels.")
OPT_BOOT = typer.Option(
    None, "--bootstrap", help="Bootstrap resamples (default: 200 when N <= 500)."
)
OPT_SEED = typer.Option(0, "--seed")
OPT_BATCH = typer.Option(65536, "--batch-size", help="Rows read per batch.")
OPT_MEM = typer.Option(DEFAULT_MAX_MEMORY_MB, "--max-memory-mb", help="Larger files are streamed.")
OPT_SAMPLE = typer.Option(
    50_000, "--sample-rows", help="Rows sampled for O(N^2)/probe metrics when streaming."
)
OPT_FORCE = typer.Option(
    False, "--force", help="Allow an output path to be one of the input files (overwrite it)."
)


@app.command("analyze")
def analyze_cmd(
    embeddings: Path = EMB,
    labels: Path | None = OPT_LABELS,
    weights: Path | None = typer.Option(
        None, "--weights", "-w", help="Classifier weights (K x D) for NC3/NC4."
    ),
    reference: Path | None = typer.Option(
        None, "--reference", "-r", help="Same inputs embedded by a reference model (CKA)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the JSON report here."),
    html_out: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    key: str = OPT_KEY,
    labels_key: str = OPT_LKEY,
    bootstrap: int | None = OPT_BOOT,
    seed: int = OPT_SEED,
    batch_size: int = OPT_BATCH,
    max_memory_mb: int = OPT_MEM,
    sample_rows: int = OPT_SAMPLE,
    force: bool = OPT_FORCE,
) -> None:
    """Analyse one embedding set: metrics, intervals and a verdict."""
    guarded(lambda: check_options(batch_size, sample_rows, bootstrap, max_memory_mb))
    guarded(
        lambda: check_outputs(
            [("--json", json_out), ("--html", html_out)],
            [embeddings, labels, weights, reference],
            force,
        )
    )
    report = guarded(
        lambda: _report_for(
            embeddings,
            labels,
            key,
            labels_key,
            weights,
            reference,
            bootstrap,
            seed,
            batch_size,
            max_memory_mb,
            sample_rows,
        )
    )
    _print_report(report, f"collapsekit: {embeddings.name}")
    guarded(lambda: _write_outputs(report, json_out, html_out, f"collapsekit: {embeddings.name}"))


COMPARE_KEYS = (
    "effective_rank",
    "effective_rank_score",
    "rankme",
    "std_of_l2_normalized",
    "uniformity",
    "centroid_similarity",
    "silhouette",
    "linear_probe_accuracy",
    "nc1",
    "cdnv",
    "etf_error",
)


@app.command("compare")
def compare_cmd(
    a: Path = typer.Argument(..., help="Embeddings before (e.g. the pre-trained model)."),
    b: Path = typer.Argument(..., help="Embeddings after, of the same inputs in the same order."),
    labels: Path | None = OPT_LABELS,
    json_out: Path | None = typer.Option(None, "--json"),
    html_out: Path | None = typer.Option(None, "--html"),
    key: str = OPT_KEY,
    labels_key: str = OPT_LKEY,
    bootstrap: int | None = OPT_BOOT,
    seed: int = OPT_SEED,
    force: bool = OPT_FORCE,
) -> None:
    """Compare two embedding sets of the same inputs: CKA, indicators side by side, verdicts."""
    guarded(lambda: check_options(bootstrap=bootstrap))
    guarded(
        lambda: check_outputs([("--json", json_out), ("--html", html_out)], [a, b, labels], force)
    )

    def run() -> dict[str, Any]:
        from collapsekit.analyze import analyze
        from collapsekit.cli.readers import open_embeddings, read_labels
        from collapsekit.functional.linear_cka import linear_cka

        sa, sb = open_embeddings(a, key, labels_key), open_embeddings(b, key, labels_key)
        if sa.shape[0] != sb.shape[0]:
            raise ValueError(
                f"{b.name}: expected {sa.shape[0]} rows paired with {a.name} (the same inputs in "
                f"the same order), received {sb.shape[0]}; CKA of unpaired rows is undefined"
            )
        xa, xb = (
            _load_all(sa, 65536, f"reading {a.name}"),
            _load_all(sb, 65536, f"reading {b.name}"),
        )
        y, _ = read_labels(labels, sa.shape[0], sa, labels_key)
        ra = analyze(xa, y, bootstrap=bootstrap, seed=seed)
        rb = analyze(xb, y, bootstrap=bootstrap, seed=seed)
        return {
            "schema": "collapsekit-compare/1",
            "a": str(a),
            "b": str(b),
            "linear_cka": linear_cka(xa, xb),
            "linear_cka_debiased": linear_cka(xa, xb, debiased=True) if len(xa) >= 4 else None,
            "verdict_a": ra.verdict.label,
            "verdict_b": rb.verdict.label,
            "reports": (ra, rb),
        }

    result = guarded(run)
    ra, rb = result.pop("reports")
    table = Table(title=escape(f"collapsekit compare: {a.name} -> {b.name}"))
    for col in ("metric", a.name, b.name, "change"):
        table.add_column(escape(col), justify="left" if col == "metric" else "right")
    for k in COMPARE_KEYS:
        if k in ra.metrics and k in rb.metrics:
            va, vb = ra.metrics[k], rb.metrics[k]
            table.add_row(k, f"{va:.4g}", f"{vb:.4g}", f"{vb - va:+.4g}")
    out.print(table)
    debiased = result["linear_cka_debiased"]
    shown = "n/a" if debiased is None else f"{debiased:.4f}"
    out.print(f"linear CKA (a vs b): {result['linear_cka']:.4f}   debiased: {shown}")
    change = "unchanged" if ra.verdict.label == rb.verdict.label else "changed"
    labels_shown = escape(f"{ra.verdict.label} -> {rb.verdict.label} ({change})")
    out.print(f"[bold]Verdict:[/] {labels_shown}", highlight=False)
    result["metrics_a"] = {k: ra.metrics[k] for k in COMPARE_KEYS if k in ra.metrics}
    result["metrics_b"] = {k: rb.metrics[k] for k in COMPARE_KEYS if k in rb.metrics}

    def write() -> None:
        from collapsekit.report.html import render_compare
        from collapsekit.report.safe_write import write_text_atomic

        if json_out:
            text = json.dumps(
                {**result, "report_a": ra.to_dict(), "report_b": rb.to_dict()},
                indent=2,
                allow_nan=False,
                default=str,
            )
            write_text_atomic(json_out, text + "\n")
            out.print(f"wrote {escape(str(json_out))}", highlight=False, soft_wrap=True)
        if html_out:
            write_text_atomic(html_out, render_compare(result, ra, rb))
            out.print(f"wrote {escape(str(html_out))}", highlight=False, soft_wrap=True)

    guarded(write)


@app.command("track")
def track_cmd(
    logdir: Path = typer.Argument(..., help="A history .jsonl file or a folder holding them."),
    html_out: Path | None = typer.Option(None, "--html", help="Default: LOGDIR/tracking.html."),
    force: bool = OPT_FORCE,
) -> None:
    """Plot per-epoch collapse history (Papyan-style curves) to HTML."""

    def run() -> Path:
        from collapsekit.report.history import read_history
        from collapsekit.report.html import render_history
        from collapsekit.report.safe_write import write_text_atomic

        target = html_out or ((logdir if logdir.is_dir() else logdir.parent) / "tracking.html")
        inputs = sorted(logdir.glob("*.jsonl")) if logdir.is_dir() else [logdir]
        check_outputs([("--html", target)], list(inputs), force)
        rows = read_history(logdir)
        write_text_atomic(target, render_history(rows, f"collapsekit tracking: {logdir.name}"))
        last = rows[-1]
        table = Table(title=escape(f"{len(rows)} epochs; last epoch {last.get('epoch')}"))
        table.add_column("metric")
        table.add_column("first", justify="right")
        table.add_column("last", justify="right")
        for k, v in last.items():
            if isinstance(v, int | float) and k != "epoch":
                first = rows[0].get(k)
                shown_first = f"{first:.4g}" if isinstance(first, int | float) else ""
                table.add_row(escape(str(k)), shown_first, f"{v:.4g}")
        out.print(table)
        return target

    target = guarded(run)
    out.print(f"wrote {escape(str(target))}", highlight=False, soft_wrap=True)


@app.command("demo")
def demo_cmd(
    out_dir: Path = typer.Option(Path("collapsekit-demo"), "--out", help="Folder for the outputs."),
    epochs: int = typer.Option(300, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
    force: bool = typer.Option(
        False, "--force", help="Replace a previous run in --out (its history is discarded)."
    ),
) -> None:
    """Train a small network on scikit-learn's digits into the terminal phase and watch NC."""

    def run() -> Any:
        from collapsekit._validation import check_positive_int
        from collapsekit.demo import run_demo

        check_positive_int(epochs, "--epochs")
        return run_demo(out_dir, epochs=epochs, seed=seed, console=out, force=force)

    guarded(run)


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
