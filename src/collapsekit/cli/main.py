"""The ``collapsekit`` command: analyze, compare, track, demo.

Every error prints one line on stderr and exits with code 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import typer
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    sys.stderr.write(
        f"collapsekit: the command-line tool needs typer and rich ({_exc}); "
        "pip install 'collapsekit[cli]'\n"
    )
    raise SystemExit(2) from None

from collapsekit.cli.console import STATE, err, exit_code, guarded, out
from collapsekit.cli.inputs import AnalyzeOptions, report_for
from collapsekit.cli.options import (
    EMB,
    OPT_BATCH,
    OPT_BIAS,
    OPT_BOOT,
    OPT_CLASSES,
    OPT_DEVICE,
    OPT_FORCE,
    OPT_KEY,
    OPT_LABELS,
    OPT_LKEY,
    OPT_MEM,
    OPT_NO_PROBE,
    OPT_OOD,
    OPT_PRECISION,
    OPT_SAMPLE,
    OPT_SEED,
    OPT_THRESHOLD,
    OPT_WKEY,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Has my model's embedding space collapsed, and how?",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no "<bool>" type column, no boxes when piped
)


def check_outputs(
    outputs: list[tuple[str, Path | None]], inputs: list[Path | None], force: bool
) -> None:
    """Refuse (before any work) to write a report over an input file unless ``--force``, or
    into a folder that does not exist (found only after the whole analysis otherwise)."""
    from collapsekit.io.safe_write import refuse_overwriting_inputs

    for option, path in outputs:
        if path is not None and not Path(path).parent.is_dir():
            raise ValueError(
                f"{option} {path}: the folder {Path(path).parent} does not exist; create it "
                "first or choose another path"
            )
    refuse_overwriting_inputs(outputs, inputs, force)


def _print_version(value: bool) -> None:
    if value:
        from collapsekit._version import __version__

        out.print(f"collapsekit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one line (accepted anywhere)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Has my model's embedding space collapsed, and how?"""
    STATE["debug"] = STATE["debug"] or debug


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str, int, int | None], None]]:
    """A rich progress display fed by the engine's ``progress(stage, done, total)`` callback:
    one bar per stage (pass 1, pass 2, baseline, bootstrap, ...), on stderr, only on a
    terminal; each counts in its own unit (:func:`progress_count`)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            count = progress_count(stage, done, total)
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{label}: {stage}", total=total, count=count)
            bar.update(tasks[stage], completed=done, total=total, count=count)

        yield update


#: What each progress stage counts (rows unless listed).
PROGRESS_UNITS = {"baseline": "steps", "bootstrap": "resamples"}


def progress_count(stage: str, done: int, total: int | None) -> str:
    """The count shown beside a stage's bar: ``done/total unit``, or ``done unit`` when the
    total is not known (a generator of batches).

    Example:
        >>> progress_count("bootstrap", 50, 200), progress_count("pass 1", 4096, None)
        ('50/200 resamples', '4096 rows')
    """
    unit = PROGRESS_UNITS.get(stage, "rows")
    return f"{done} {unit}" if total is None else f"{done}/{total} {unit}"


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
    for line in v.findings_lines():
        out.print(f"  finding: {escape(line)}", highlight=False)
    for text in report.inputs.get("notes", []):
        out.print(f"  note: {escape(str(text))}", highlight=False)


def _write_outputs(report: Any, json_out: Path | None, html_out: Path | None, title: str) -> None:
    if json_out:
        report.to_json(json_out)  # atomic: a failed write keeps the previous file
        out.print(f"wrote {escape(str(json_out))}", highlight=False, soft_wrap=True)
    if html_out:
        report.to_html(html_out, title=title)
        out.print(f"wrote {escape(str(html_out))}", highlight=False, soft_wrap=True)


def _analyzed(path: Path, opts: AnalyzeOptions, reference: Path | None = None) -> Any:
    """One file through the engine, with a progress bar, errors as one line."""

    def run() -> Any:
        with progress_bar(path.name) as progress:
            return report_for(path, opts, reference, progress)

    return guarded(run)


# size: typer CLI command: one parameter per command-line option
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
    ood: Path | None = OPT_OOD,
    json_out: Path | None = typer.Option(None, "--json", help="Write the JSON report here."),
    html_out: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    key: str = OPT_KEY,
    labels_key: str = OPT_LKEY,
    bootstrap: int | None = OPT_BOOT,
    seed: int = OPT_SEED,
    batch_size: int = OPT_BATCH,
    max_memory_mb: float = OPT_MEM,
    sample_rows: int = OPT_SAMPLE,
    precision: str = OPT_PRECISION,
    class_names: Path | None = OPT_CLASSES,
    weights_key: str | None = OPT_WKEY,
    bias: str | None = OPT_BIAS,
    device: str | None = OPT_DEVICE,
    thresholds: list[str] | None = OPT_THRESHOLD,
    no_probe: bool = OPT_NO_PROBE,
    force: bool = OPT_FORCE,
) -> None:
    """Analyse one embedding set: metrics, intervals and a verdict."""
    opts = AnalyzeOptions.from_options(locals())
    guarded(opts.check)
    inputs = [embeddings, reference, *opts.input_files()]
    guarded(lambda: check_outputs([("--json", json_out), ("--html", html_out)], inputs, force))
    report = _analyzed(embeddings, opts, reference)
    _print_report(report, f"collapsekit: {embeddings.name}")
    guarded(lambda: _write_outputs(report, json_out, html_out, f"collapsekit: {embeddings.name}"))


def _check_paired(a: Path, b: Path, opts: AnalyzeOptions) -> None:
    """Refuse two files whose rows cannot be the same inputs (different row counts)."""
    from collapsekit.io.readers import open_embeddings

    sa = open_embeddings(a, opts.key, opts.labels_key)
    sb = open_embeddings(b, opts.key, opts.labels_key)
    if sa.shape[0] != sb.shape[0]:
        raise ValueError(
            f"{b.name}: expected {sa.shape[0]} rows paired with {a.name} (the same inputs in "
            f"the same order), received {sb.shape[0]}; CKA of unpaired rows is undefined"
        )


def _print_comparison(c: Any, a: Path, b: Path) -> None:
    table = Table(title=escape(f"collapsekit compare: {a.name} -> {b.name}"))
    for col in ("metric", a.name, b.name, "change"):
        table.add_column(escape(col), justify="left" if col == "metric" else "right")
    for row in c.changes:
        table.add_row(row.key, f"{row.before:.4g}", f"{row.after:.4g}", f"{row.delta:+.4g}")
    out.print(table)
    shown = "n/a" if c.linear_cka_debiased is None else f"{c.linear_cka_debiased:.4f}"
    cka = "n/a" if c.linear_cka is None else f"{c.linear_cka:.4f}"
    out.print(f"linear CKA (a vs b): {cka}   debiased: {shown}")
    change = "changed" if c.verdict_changed else "unchanged"
    labels_shown = escape(f"{c.verdict_before} -> {c.verdict_after} ({change})")
    out.print(f"[bold]Verdict:[/] {labels_shown}", highlight=False)


# size: typer CLI command: one parameter per command-line option
@app.command("compare")
def compare_cmd(
    a: Path = typer.Argument(..., help="Embeddings before (e.g. the pre-trained model)."),
    b: Path = typer.Argument(..., help="Embeddings after, of the same inputs in the same order."),
    labels: Path | None = OPT_LABELS,
    json_out: Path | None = typer.Option(None, "--json", help="Write the comparison as JSON."),
    html_out: Path | None = typer.Option(None, "--html", help="Write the comparison as HTML."),
    key: str = OPT_KEY,
    labels_key: str = OPT_LKEY,
    bootstrap: int | None = OPT_BOOT,
    seed: int = OPT_SEED,
    weights: Path | None = typer.Option(
        None, "--weights", "-w", help="Classifier weights (K x D) for NC3/NC4, for both sets."
    ),
    batch_size: int = OPT_BATCH,
    max_memory_mb: float = OPT_MEM,
    sample_rows: int = OPT_SAMPLE,
    precision: str = OPT_PRECISION,
    class_names: Path | None = OPT_CLASSES,
    weights_key: str | None = OPT_WKEY,
    bias: str | None = OPT_BIAS,
    device: str | None = OPT_DEVICE,
    thresholds: list[str] | None = OPT_THRESHOLD,
    no_probe: bool = OPT_NO_PROBE,
    force: bool = OPT_FORCE,
) -> None:
    """Compare two embedding sets of the same inputs: CKA, indicators side by side, verdicts."""
    opts = AnalyzeOptions.from_options(locals())
    guarded(opts.check)
    inputs = [a, b, *opts.input_files()]
    guarded(lambda: check_outputs([("--json", json_out), ("--html", html_out)], inputs, force))
    guarded(lambda: _check_paired(a, b, opts))
    ra = _analyzed(a, opts, reference=b)  # the paired rows give the CKA of a vs b
    rb = _analyzed(b, opts)
    from collapsekit.report.compare import compare

    comparison = compare(
        ra,
        rb,
        linear_cka=ra.metrics.get("linear_cka"),
        linear_cka_debiased=ra.metrics.get("linear_cka_debiased"),
        names=(str(a), str(b)),
    )
    _print_comparison(comparison, a, b)

    def write() -> None:
        if json_out:
            comparison.to_json(json_out)  # atomic: a failed write keeps the previous file
            out.print(f"wrote {escape(str(json_out))}", highlight=False, soft_wrap=True)
        if html_out:
            comparison.to_html(html_out)
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
        from collapsekit.io.safe_write import write_text_atomic
        from collapsekit.render.html import render_history
        from collapsekit.report.history import read_history

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
    epochs: int = typer.Option(300, "--epochs", help="Training epochs (at least 1)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the data split, weights and sampling."),
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
    """Console-script entry point; ``--debug`` is accepted anywhere on the line. Ctrl-C
    prints one line and exits 130 (:func:`collapsekit.cli.install_interrupt_handler`)."""
    from collapsekit.cli.interrupt import install_interrupt_handler

    install_interrupt_handler()
    args = sys.argv[1:]
    if "--debug" in args:
        STATE["debug"] = True
        args = [a for a in args if a != "--debug"]
    sys.exit(exit_code(app, args))


if __name__ == "__main__":  # pragma: no cover
    run()
