"""The built-in demo: watch neural collapse emerge on scikit-learn's digits, offline, on CPU.

A small MLP is trained well past zero training error (the terminal phase of training,
Papyan et al. 2020). After every epoch the penultimate features of the training set are
captured with :class:`FeatureCapture`, streamed through :class:`CollapseMonitor`, and the row is
appended to ``history.jsonl``. At the end the final features are analysed
(:func:`collapsekit.analyze`) and three files are written: the history, the HTML/JSON report and
the tracking plot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from collapsekit._threads import one_thread
from collapsekit._validation import check_positive_int
from collapsekit.engine.analyze import analyze
from collapsekit.integrations.collapse_monitor import CollapseMonitor
from collapsekit.io.feature_capture import FeatureCapture
from collapsekit.io.safe_write import write_text_atomic
from collapsekit.render.html import render_history
from collapsekit.report.history import HISTORY_NAME


def load_digits_data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits (1,797 8x8 images, 10 classes), standardised; 80/20 split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise RuntimeError(
            "the demo needs scikit-learn for its bundled digits data: "
            "pip install 'collapsekit[sklearn]' (make demo installs it)"
        ) from exc
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    cut = int(0.8 * len(y))
    tr, te = perm[:cut], perm[cut:]
    mu, sd = x[tr].mean(0), x[tr].std(0).clamp_min(1e-3)
    return (x[tr] - mu) / sd, y[tr], (x[te] - mu) / sd, y[te]


class DigitsNet(nn.Module):
    """MLP 64 -> 256 -> 256 -> 64 features -> 10 logits (the classifier is ``classifier``)."""

    def __init__(self, width: int = 256, feature_dim: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(64, width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Linear(width, feature_dim),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(feature_dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


def run_demo(
    out_dir: str | Path = "collapsekit-demo",
    epochs: int = 300,
    seed: int = 0,
    console: Any = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train, track every epoch, write history.jsonl, report.html/json and tracking.html.

    ``out_dir`` holding a previous run (a ``history.jsonl``) is refused unless ``force``:
    a demo never deletes a run's history by accident. Reports are written atomically.
    Returns a summary with the first and last NC1 and NCC agreement. Runs with one intra-op
    thread: a small network's many small operations are slower with more (110 s against 15 s
    for 300 epochs on a busy 2-core machine).
    """
    with one_thread():
        return _run_demo(out_dir, epochs, seed, console, force)


Digits = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _sayer(console: Any) -> Callable[[str], None]:
    """print, or a rich console's print with paths as text, never markup."""

    def say(message: str) -> None:
        if console is None:
            print(message)
        else:
            console.print(message, markup=False, highlight=False)

    return say


def _prepare_out(out_dir: str | Path, force: bool) -> tuple[Path, Path]:
    """The output folder (created) and its history file (removed with ``force``); refuses a
    file, or a folder holding a run without ``force``."""
    out = Path(out_dir)
    history = out / HISTORY_NAME
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: expected a folder, received the file {out}")
    if history.exists() and not force:
        raise ValueError(
            f"--out: the folder {out} already holds a run ({HISTORY_NAME}); choose a new folder "
            "or pass --force to replace that run"
        )
    out.mkdir(parents=True, exist_ok=True)
    if history.exists():
        history.unlink()  # --force: the user asked to replace the previous run
    return out, history


def _train_epoch(
    model: DigitsNet,
    opt: torch.optim.Optimizer,
    loss_fn: nn.Module,
    xtr: torch.Tensor,
    ytr: torch.Tensor,
    g: torch.Generator,
) -> float:
    """One epoch of SGD over shuffled batches of 128; the mean training loss."""
    model.train()
    perm = torch.randperm(len(ytr), generator=g)
    total_loss = 0.0
    for idx in perm.split(128):
        opt.zero_grad()
        loss = loss_fn(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
        total_loss += float(loss.detach()) * len(idx)
    return total_loss / len(ytr)


def _measure_epoch(
    model: DigitsNet,
    capture: FeatureCapture,
    monitor: CollapseMonitor,
    epoch: int,
    data: Digits,
    train_loss: float,
) -> dict[str, Any]:
    """The monitor's row of this epoch, measured on the training set in eval mode (as Papyan
    et al. do), with loss and accuracies."""
    xtr, ytr, xte, yte = data
    model.eval()
    with torch.no_grad():
        logits = model(xtr)
        feats = capture.last
        assert feats is not None
        monitor.update(feats, ytr)
        test_acc = float((model(xte).argmax(1) == yte).float().mean())
    return monitor.end_epoch(
        epoch,
        weights=model.classifier.weight.detach(),
        bias=model.classifier.bias.detach(),
        ncc_features=[feats],
        extra={
            "train_loss": train_loss,
            "train_accuracy": float((logits.argmax(1) == ytr).float().mean()),
            "test_accuracy": test_acc,
        },
    )


def _train(
    model: DigitsNet, data: Digits, monitor: CollapseMonitor, epochs: int, seed: int, say: Any
) -> None:
    """Train for ``epochs`` (SGD, step decay at 1/3 and 2/3), one monitor row per epoch."""
    xtr, ytr, _, yte = data
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=[epochs // 3, 2 * epochs // 3], gamma=0.1
    )
    capture = FeatureCapture(model, "classifier", capture="input")
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    say(f"training on digits: {len(ytr)} train / {len(yte)} test rows, {epochs} epochs")
    for epoch in range(epochs):
        train_loss = _train_epoch(model, opt, loss_fn, xtr, ytr, g)
        sched.step()
        row = _measure_epoch(model, capture, monitor, epoch, data, train_loss)
        if epoch % max(1, epochs // 10) == 0 or epoch == epochs - 1:
            say(
                f"epoch {epoch:4d}  loss {row['train_loss']:.4f}  train acc "
                f"{row['train_accuracy']:.3f}  test acc {row['test_accuracy']:.3f}  "
                f"NC1 {row['nc1']:.4g}  NCC agreement {row['ncc_agreement']:.3f}"
            )
    capture.remove()


def _write_layer_profile(
    model: DigitsNet, xtr: torch.Tensor, ytr: torch.Tensor, out: Path, say: Any
) -> tuple[dict[str, Any], str]:
    """Layer-wise collapse profile of the trained MLP (one pass over the training set), written
    to layer_profile.html; its dict and that path."""
    from collapsekit.profile import analyze_layers

    profile = analyze_layers(
        model,
        list(zip(xtr.split(256), ytr.split(256), strict=True)),
        layers=["body.2", "body.5", "body.8", "classifier"],
    )
    profile.to_html(
        out / "layer_profile.html", title="collapsekit demo: digits MLP, layer by layer"
    )
    say(profile.table())
    return profile.to_dict(), str(out / "layer_profile.html")


def _run_demo(
    out_dir: str | Path, epochs: int, seed: int, console: Any, force: bool
) -> dict[str, Any]:
    epochs = check_positive_int(epochs, "epochs")
    say = _sayer(console)
    start = time.perf_counter()
    out, history = _prepare_out(out_dir, force)
    torch.manual_seed(seed)
    data = load_digits_data(seed)
    xtr, ytr = data[0], data[1]
    model = DigitsNet()
    monitor = CollapseMonitor(10, 64, history=history)
    _train(model, data, monitor, epochs, seed, say)
    model.eval()
    with torch.no_grad():
        final_feats = model.body(xtr)
    report = analyze(
        final_feats,
        ytr,
        weights=model.classifier.weight.detach(),
        bias=model.classifier.bias.detach(),
        bootstrap=100,
        seed=seed,
    )
    report.to_json(out / "report.json")
    report.to_html(out / "report.html", title="collapsekit demo: digits MLP, final epoch")
    rows = monitor.rows
    write_text_atomic(
        out / "tracking.html", render_history(rows, "collapsekit demo: neural collapse on digits")
    )
    first, last = rows[0], rows[-1]
    summary = {
        "nc1_first": first["nc1"],
        "nc1_last": last["nc1"],
        "nc1_ratio": first["nc1"] / last["nc1"],
        "ncc_agreement_first": first["ncc_agreement"],
        "ncc_agreement_last": last["ncc_agreement"],
        "verdict": report.verdict.label,
        "seconds": time.perf_counter() - start,
        "outputs": [
            str(history),
            str(out / "report.html"),
            str(out / "report.json"),
            str(out / "tracking.html"),
        ],
    }
    say(
        f"NC1 fell {summary['nc1_ratio']:.1f}x ({first['nc1']:.4g} -> {last['nc1']:.4g}); "
        f"NCC agreement {first['ncc_agreement']:.3f} -> {last['ncc_agreement']:.3f}; "
        f"final verdict: {report.verdict.label}"
    )
    summary["layer_profile"], profile_path = _write_layer_profile(model, xtr, ytr, out, say)
    summary["outputs"].append(profile_path)
    say(f"wrote {', '.join(summary['outputs'])} in {summary['seconds']:.0f} s")
    return summary
