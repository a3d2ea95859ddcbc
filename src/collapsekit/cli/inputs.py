"""What ``analyze`` and ``compare`` share: the options of one analysis
(:class:`AnalyzeOptions`, built once from the command's options) and :func:`report_for`, which
streams one embeddings file through the engine with them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collapsekit.report.report import Report

#: budget for the exact per-class structures (files are always streamed batch by batch)
DEFAULT_MAX_MEMORY_MB = 4096

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class AnalyzeOptions:
    """The command-line options of one analysis (everything but the embeddings, the reference
    and the outputs); ``analyze`` and ``compare`` build it once and pass it on."""

    labels: Path | None = None
    key: str = "embeddings"
    labels_key: str = "labels"
    weights: Path | None = None
    weights_key: str | None = None
    bias: str | None = None
    class_names: Path | None = None
    bootstrap: int | None = None
    seed: int = 0
    batch_size: int = 65536
    max_memory_mb: float = DEFAULT_MAX_MEMORY_MB
    sample_rows: int = 20_000
    precision: str = "float64"
    device: str | None = None
    thresholds: tuple[str, ...] = ()
    ood: Path | None = None
    probe: bool = True

    @classmethod
    def from_options(cls, values: Mapping[str, Any]) -> AnalyzeOptions:
        """The options named like the fields, taken from a command's parameters
        (``AnalyzeOptions.from_options(locals())`` as the command's first line); the
        repeatable ``--threshold`` list becomes a tuple and ``--no-probe`` sets ``probe``.

        Example:
            >>> AnalyzeOptions.from_options({"seed": 3, "thresholds": None, "other": 1}).seed
            3
            >>> AnalyzeOptions.from_options({"no_probe": True}).probe
            False
        """
        picked = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        picked["thresholds"] = tuple(picked.get("thresholds") or ())
        if "no_probe" in values:
            picked["probe"] = not values["no_probe"]
        return cls(**picked)

    def check(self) -> None:
        """Reject nonsensical numeric options before any work (one clear error line)."""
        import math

        from collapsekit._validation import check_nonnegative_int, check_positive_int

        check_positive_int(self.batch_size, "--batch-size")
        check_positive_int(self.sample_rows, "--sample-rows")
        if self.bootstrap is not None:
            check_nonnegative_int(self.bootstrap, "--bootstrap", "0 turns the intervals off")
        if self.precision not in ("float64", "float32"):
            raise ValueError(
                f"--precision: expected float64 (exact, the default) or float32 (faster, for "
                f"vocabulary-scale files), received {self.precision!r}"
            )
        if not (math.isfinite(self.max_memory_mb) and self.max_memory_mb > 0):
            raise ValueError(
                f"--max-memory-mb: expected a positive number of MB, received "
                f"{self.max_memory_mb:g}; the default is {DEFAULT_MAX_MEMORY_MB}"
            )

    def input_files(self) -> list[Path | None]:
        """The files these options read (an output may not overwrite one)."""
        return [self.labels, self.weights, self.class_names, self.ood]


def _read_class_order(path: Path | None) -> list[str] | None:
    """Class names, one per line (the class of weight row 0, 1, ...)."""
    if path is None:
        return None
    if not path.exists():
        raise ValueError(f"--class-names: {path}: no such file")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"--class-names: expected one class name per line, {path} is empty")
    return names


def _labels_in_class_order(
    codes: np.ndarray | None, names: list[str] | None, order: list[str] | None
) -> np.ndarray | None:
    """Re-index labels read as names (codes into sorted ``names``) into the user's ``order``."""
    if codes is None or names is None or order is None:
        return codes
    index = {n: i for i, n in enumerate(order)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(
            f"--class-names: expected every label name in the list, missing {missing[:5]}"
        )
    return np.asarray([index[n] for n in names], dtype=np.int64)[codes]


def report_for(
    path: Path,
    opts: AnalyzeOptions,
    reference: Path | None = None,
    progress: Progress | None = None,
) -> Report:
    """Stream the file (and its paired ``reference``) through the engine, batch by batch."""
    from collapsekit.cli.matrices import load_bias, load_ood, load_weights
    from collapsekit.engine.analyze import analyze
    from collapsekit.io.readers import open_embeddings, read_labels
    from collapsekit.verdict import Thresholds

    rules = Thresholds.from_strings(list(opts.thresholds)) if opts.thresholds else None
    source = open_embeddings(path, opts.key, opts.labels_key)
    n = source.shape[0]
    labels, names = read_labels(opts.labels, n, source, opts.labels_key)
    order = _read_class_order(opts.class_names)
    if names is not None and opts.weights is not None and order is None:
        raise ValueError(
            "--weights: the labels are names, which give no order for the classifier rows; "
            "pass --class-names FILE listing the class of weight row 0, 1, ... (one per line)"
        )
    labels = _labels_in_class_order(labels, names, order)
    dim = source.shape[1]
    w = load_weights(opts.weights, opts.weights_key, dim) if opts.weights else None
    b = load_bias(opts.bias, opts.weights)
    ood = load_ood(opts.ood, opts.key, dim, labelled=labels is not None) if opts.ood else None
    ref = _open_reference(reference, opts.key) if reference else None
    if ref is not None and ref.shape[0] != n:
        raise ValueError(
            f"--reference: expected {n} rows paired with {path.name} (the same inputs embedded "
            f"by the reference model), received {ref.shape[0]}; CKA of unpaired sets is undefined"
        )
    try:
        report = analyze(
            source.array,
            labels,
            weights=w,
            bias=b,
            reference=ref,
            ood_features=ood,
            bootstrap=opts.bootstrap,
            probe=opts.probe,
            seed=opts.seed,
            class_names=order if order is not None else names,
            sample_rows=opts.sample_rows,
            batch_size=opts.batch_size,
            max_memory_mb=opts.max_memory_mb,
            precision="float32" if opts.precision == "float32" else "float64",
            progress=progress,
            device=opts.device,
            thresholds=rules,
        )
    except ValueError as err:  # the rows' problems in the file's terms, not Python's
        raise ValueError(_in_file_terms(str(err), path)) from None
    report.inputs["source"] = str(path)
    return report


def _in_file_terms(message: str, path: Path) -> str:
    """An engine message about ``features`` restated for the file they came from.

    Example:
        >>> text = _in_file_terms("features: received NaN in 1 row(s) (indices 5); drop or "
        ...                       "repair these rows before calling", Path("e.npy"))
        >>> text
        'e.npy: received NaN in 1 row(s) (row indices 5); drop or repair these rows in the file'
    """
    if not message.startswith("features: "):
        return message
    text = message[len("features: ") :].replace("before calling", "in the file")
    return f"{path}: " + text.replace("(indices ", "(row indices ")


def _open_reference(path: Path, key: str) -> Any:
    """The rows of ``--reference`` (for ``compare``: the second file), read under the same
    ``--key`` as the embeddings; a problem with the file is named as ``--reference``'s."""
    from collapsekit.io.readers import InputError, open_embeddings

    try:
        return open_embeddings(path, key).array
    except InputError as err:
        raise InputError(f"--reference {err}") from None


__all__ = ["DEFAULT_MAX_MEMORY_MB", "AnalyzeOptions", "report_for"]
