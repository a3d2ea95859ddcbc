"""Neural collapse in a small causal language model, offline on the CPU.

    make lm-example                       # the defaults below, into lm-example-out/
    python examples/linguistic_collapse.py --out lm-example-out [--steps 600] [--vocab 4096]

Wu & Papyan ("Linguistic Collapse: Neural Collapse in (Large) Language Models", NeurIPS 2024)
treat next-token prediction as a classification task: the classes are the vocabulary, the rows
are every token position, the features are the last hidden state (after the final layer norm)
and the classifier is the unembedding matrix. This script reproduces that set-up at a scale a
laptop trains in minutes:

1. Corpus: the ``.py`` files of the running Python's standard library (present on every
   machine), sorted by path, the first ``--corpus-mb`` megabytes; files are split into a training
   and a held-out part (every tenth file held out), so held-out text is unseen code.
2. Tokenizer: a byte-level BPE with ``--vocab`` tokens, trained in place (``tokenizers``).
3. Model: a small pre-norm causal transformer (``--layers``, ``--width``, context ``--context``)
   with an untied, bias-free unembedding, trained with AdamW and weight decay.
4. At each checkpoint, every held-out token position is streamed through
   :class:`collapsekit.Analyzer` (label = the next token), in one pass; NC4 needs the class
   means, so a second pass over the same positions gives exact NCC agreement. The metrics
   come from :meth:`Analyzer.exact_metrics` with the unembedding as the classifier weights.

Empty classes. A vocabulary token that never occurs as a next token in the held-out split has
no rows and no mean. As in Wu & Papyan, such tokens are left out of the class statistics
(K = the tokens that occur); the engine matches unembedding rows to classes by label value,
so NC3 (self-duality) uses the unembedding rows of the occurring tokens only, while NC4's
classifier prediction is the model's own: the argmax over the *whole* vocabulary. The count of
occurring tokens is printed and recorded at every checkpoint. Rare tokens (one row) have no
within-class variance: they contribute to the means and the between-class scatter, and CDNV
pairs involving them use a zero variance, exactly as the formulas give.

Outputs in ``--out``: ``history.jsonl`` (one row per checkpoint, readable by
``collapsekit track``), ``linguistic_collapse.png`` (``collapsekit.plot.plot_tracking``), and
``throughput.json`` (tokens/s of the engine's pass against a bare float32 ``X.T @ X`` over the
same batches, and peak memory).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from collapsekit import Analyzer
from collapsekit.report.history import append_history

METRICS = [
    "nc1",
    "cdnv",
    "equinorm",
    "equiangularity",
    "hyperspherical_log_var",
    "self_duality",
    "ncc_agreement",
]


# ----------------------------------------------------------------------------- corpus
def stdlib_files(limit_bytes: int) -> list[str]:
    """The standard library's ``.py`` sources, sorted by path, up to ``limit_bytes`` in all."""
    root = Path(sysconfig.get_paths()["stdlib"])
    texts: list[str] = []
    total = 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts or "tests" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text)
        if total >= limit_bytes:
            break
    if len(texts) < 10:  # every tenth file is held out
        sys.exit(f"error: found only {len(texts)} standard-library sources under {root}")
    return texts


def train_tokenizer(texts: list[str], vocab: int):  # type: ignore[no-untyped-def]
    """A byte-level BPE with ``vocab`` tokens trained on ``texts`` (``tokenizers``)."""
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        sys.exit("error: this example needs the 'tokenizers' package: pip install tokenizers")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def encode(tok, texts: list[str]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    ids: list[int] = []
    for enc in tok.encode_batch(texts):
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.long)


# ----------------------------------------------------------------------------- model
class TinyCausalLM(nn.Module):
    """Pre-norm causal transformer; ``features`` is the last hidden state after ``ln_f``."""

    def __init__(self, vocab: int, width: int, layers: int, heads: int, context: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.zeros(context, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(width)
        self.unembed = nn.Linear(width, vocab, bias=False)
        mask = torch.triu(torch.full((context, context), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        nn.init.normal_(self.position, std=0.02)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.embed(ids) + self.position[:t]
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.ln_f(h)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.unembed(self.features(ids))


def windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (input, next-token) windows of ``context`` tokens."""
    n = (ids.numel() - 1) // context
    x = ids[: n * context].view(n, context)
    y = ids[1 : n * context + 1].view(n, context)
    return x, y


def heldout_batches(
    model: TinyCausalLM, x: torch.Tensor, y: torch.Tensor, rows: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(features, next-token labels) of every held-out position, ``rows`` windows at a time."""
    model.eval()
    with torch.no_grad():
        for i in range(0, x.shape[0], rows):
            h = model.features(x[i : i + rows])
            yield h.reshape(-1, h.shape[-1]), y[i : i + rows].reshape(-1)


# ----------------------------------------------------------------------------- analysis
def analyse(
    model: TinyCausalLM, x: torch.Tensor, y: torch.Tensor, rows: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Exact NC metrics of every held-out position, and the pass's timing against the floor."""
    batches = list(heldout_batches(model, x, y, rows))  # the same rows for both passes
    a = Analyzer(dim=batches[0][0].shape[1], sample_rows=2_048, exact_per_class=False)
    t0 = time.perf_counter()
    for h, labels in batches:
        a.update(h, labels)
    engine_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for h, _ in batches:
        (h.T @ h).sum().item()
    floor_s = time.perf_counter() - t0
    weights = model.unembed.weight.detach()
    t0 = time.perf_counter()
    values = a.exact_metrics(
        weights=weights,
        ncc_batches=lambda: ((h, labels, None) for h, labels in batches),
        metrics=METRICS,
    )
    metrics_s = time.perf_counter() - t0
    tokens = sum(h.shape[0] for h, _ in batches)
    timing = {
        "tokens": tokens,
        "classes_present": a.encoder.num_classes,
        "pass_s": engine_s,
        "floor_s": floor_s,
        "metrics_s": metrics_s,
        "tokens_per_s": tokens / engine_s,
        "pass_over_floor": engine_s / floor_s,
    }
    return values, timing


def evaluate_loss(model: TinyCausalLM, x: torch.Tensor, y: torch.Tensor, rows: int) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], rows):
            logits = model(x[i : i + rows])
            total += nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y[i : i + rows].reshape(-1), reduction="sum"
            ).item()
            count += y[i : i + rows].numel()
    return total / count


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("lm-example-out"))
    p.add_argument("--corpus-mb", type=float, default=2.0)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--checkpoints", type=int, nargs="+", default=[0, 30, 100, 300, 600])
    p.add_argument("--heldout-windows", type=int, default=1_000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.vocab < 300:
        p.error(f"--vocab: expected at least 300 (byte alphabet + merges), received {args.vocab}")
    if any(c < 0 or c > args.steps for c in args.checkpoints):
        p.error(f"--checkpoints: expected steps between 0 and --steps={args.steps}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    texts = stdlib_files(int(args.corpus_mb * 2**20))
    train_texts = [t for i, t in enumerate(texts) if i % 10 != 9]
    held_texts = [t for i, t in enumerate(texts) if i % 10 == 9]
    tok = train_tokenizer(train_texts, args.vocab)
    vocab = tok.get_vocab_size()
    xt, yt = windows(encode(tok, train_texts), args.context)
    xh, yh = windows(encode(tok, held_texts), args.context)
    xh, yh = xh[: args.heldout_windows], yh[: args.heldout_windows]
    print(
        f"corpus: {len(texts)} stdlib files, {xt.numel():,} training and {xh.numel():,} "
        f"held-out tokens, vocabulary {vocab}"
    )
    model = TinyCausalLM(vocab, args.width, args.layers, args.heads, args.context)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=max(args.steps, 1))
    g = torch.Generator().manual_seed(args.seed)
    history: list[dict[str, float]] = []
    timings: list[dict[str, float]] = []
    (args.out / "history.jsonl").unlink(missing_ok=True)
    for step in range(args.steps + 1):
        if step in args.checkpoints:
            values, timing = analyse(model, xh, yh, rows=64)
            row = {"epoch": step, **values, "heldout_loss": evaluate_loss(model, xh, yh, 64)}
            row["classes_present"] = timing["classes_present"]
            history.append(row)
            timings.append({"step": step, **timing})
            append_history(args.out / "history.jsonl", row)
            print(
                f"step {step:5d}  loss {row['heldout_loss']:.3f}  cdnv {row['cdnv']:.3f}  "
                f"nc1 {row['nc1']:.2f}  equinorm {row['equinorm']:.3f}  "
                f"self-duality {row['self_duality']:.3f}  ncc agreement "
                f"{row['ncc_agreement']:.3f}  ({timing['classes_present']} of {vocab} tokens "
                f"occur; pass {timing['tokens_per_s']:,.0f} tok/s, "
                f"{timing['pass_over_floor']:.2f}x the X.T@X floor)",
                flush=True,
            )
        if step == args.steps:
            break
        model.train()
        idx = torch.randint(0, xt.shape[0], (args.batch,), generator=g)
        logits = model(xt[idx])
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), yt[idx].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "checkpoints": timings,
        "peak_rss_mb": peak_mb,
        "wall_s": time.perf_counter() - start,
        "threads": torch.get_num_threads(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    (args.out / "throughput.json").write_text(json.dumps(summary, indent=2))
    try:
        from collapsekit.plot import plot_tracking

        fig = plot_tracking(history)
        fig.savefig(args.out / "linguistic_collapse.png", dpi=110)
        print(f"figure: {args.out / 'linguistic_collapse.png'}")
    except ImportError as err:  # matplotlib is an optional extra
        print(f"no figure ({err})")
    print(f"done in {summary['wall_s']:.0f} s; peak memory {peak_mb:.0f} MB; out: {args.out}")
    if not math.isfinite(history[-1]["cdnv"]):
        sys.exit("error: the last checkpoint's CDNV is not finite")


if __name__ == "__main__":
    main()
