"""Features from real models: run a model over a loader, pool what a layer produces into rows.

:func:`extract` handles the shapes real models give:

* CNNs (torchvision, timm): 4-D maps ``(B, C, H, W)`` are pooled over ``H, W`` (global
  average, or max);
* Hugging Face ``transformers``: a ``ModelOutput`` with ``last_hidden_state`` ``(B, T, D)`` is
  pooled over tokens, by the CLS token or by an attention-mask-aware mean (padding tokens do not
  count); ``hidden_state=i`` takes ``hidden_states[i]`` instead (layer i; 0 = embeddings);
* ``sentence-transformers``: the ``sentence_embedding`` the model already pooled;
* anything else: 2-D outputs as they are, 3-D token layouts ``(B, T, D)`` pooled over ``T``.

Batches may be ``(inputs, labels, ...)`` tuples, dicts (Hugging Face style, labels under
``labels``/``label``; every other key is passed to the model as a keyword argument) or bare
tensors (no labels). Small sets come back as ``(features, labels)`` tensors; with
``into=<anything with update(x, y)>`` (a :class:`collapsekit.ClassStats`, the engine's
``Analyzer``) each batch is streamed into it instead and nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

PoolRule = Literal["auto", "avg", "mean", "max", "cls", "pooler", "flatten", "none"]
POOLS = ("auto", "avg", "mean", "max", "cls", "pooler", "flatten", "none")
LABEL_KEYS = ("labels", "label", "y", "targets", "target")


class _StopForward(Exception):
    """Raised by the hook once the layer's value is captured: the rest of the model is skipped."""


def _is_sentence_transformer(model: nn.Module) -> bool:
    return any(c.__module__.startswith("sentence_transformers") for c in type(model).__mro__)


def _field(output: Any, name: str) -> Any:
    """``output.name`` or ``output[name]`` (ModelOutput is both), else None."""
    if isinstance(output, Mapping):
        return output.get(name)
    return getattr(output, name, None)


def _split_batch(batch: Any) -> tuple[Any, Any]:
    """(model inputs, labels or None) of one batch."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, Mapping):
        inputs = {k: v for k, v in batch.items() if k not in LABEL_KEYS}
        label_key = next((k for k in LABEL_KEYS if k in batch), None)
        return inputs, (batch[label_key] if label_key is not None else None)
    if isinstance(batch, list | tuple):
        if len(batch) == 0:
            raise ValueError("loader: expected non-empty batches, received an empty tuple")
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise TypeError(
        "loader: expected batches that are tensors, (inputs, labels) tuples or dicts of "
        f"tensors (Hugging Face style), received {type(batch).__name__}"
    )


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(v, device) for v in value)
    return value


def _masked_token_pool(h: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """Pool ``(B, T, D)`` over tokens; with an attention mask ``(B, T)`` only real tokens count."""
    if how == "cls":
        return h[:, 0]
    if mask is None or mask.shape != h.shape[:2]:
        return h.mean(1) if how == "mean" else h.amax(1)
    m = mask.to(device=h.device).bool()
    if how == "mean":
        w = m.to(h.dtype).unsqueeze(-1)
        return (h * w).sum(1) / w.sum(1).clamp_min(1)
    return h.masked_fill(~m.unsqueeze(-1), float("-inf")).amax(1)


def pool_output(
    output: Any,
    pool: PoolRule | Callable[[Any], torch.Tensor] = "auto",
    attention_mask: torch.Tensor | None = None,
    hidden_state: int | None = None,
) -> torch.Tensor:
    """Rows ``(B, D)`` from what a model or layer returned.

    * a callable ``pool`` is applied to the raw output and must return ``(B, D)``;
    * sentence-transformers dicts: ``sentence_embedding``;
    * Hugging Face ``ModelOutput``: ``pool="pooler"`` takes ``pooler_output``; otherwise
      ``hidden_states[hidden_state]`` (when given) or ``last_hidden_state`` is pooled over
      tokens: ``"cls"`` (token 0), ``"mean"``/``"avg"``/``"auto"`` (mean over the tokens whose
      ``attention_mask`` is 1), ``"max"`` (max over those tokens);
    * tuples and lists: their first element;
    * tensors: 2-D as is; 3-D ``(B, T, D)`` pooled over T as above; 4-D and more
      ``(B, C, H, W, ...)`` pooled over every dimension after C (``"auto"``/``"avg"``/
      ``"mean"``: global average pooling; ``"max"``: global max pooling), ``"flatten"``
      keeps ``C*H*W`` columns; ``"none"`` requires 2-D.

    Example:
        >>> import torch
        >>> pool_output(torch.ones(2, 8, 3, 3)).shape
        torch.Size([2, 8])
        >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])  # the third token is padding
        >>> pool_output(h, "mean", attention_mask=torch.tensor([[1, 1, 0]])).tolist()
        [[2.0]]
    """
    if callable(pool):
        return pool(output)
    if pool not in POOLS:
        raise ValueError(f"pool: expected one of {POOLS} or a callable, received {pool!r}")
    if not isinstance(output, torch.Tensor):
        return _pool_model_output(output, pool, attention_mask, hidden_state)
    return _pool_tensor(output, pool, attention_mask)


def _pool_model_output(
    output: Any, pool: PoolRule, attention_mask: torch.Tensor | None, hidden_state: int | None
) -> torch.Tensor:
    """:func:`pool_output` of what is not a tensor: sentence-transformers dicts, Hugging Face
    outputs (pooler output or token states), tuples and lists."""
    sentence = _field(output, "sentence_embedding")
    if sentence is not None:
        return sentence
    if pool == "pooler":
        pooled = _field(output, "pooler_output")
        if pooled is None:
            raise ValueError(
                "pool: 'pooler' needs a model output with pooler_output (such as BertModel's"
                f"), received {type(output).__name__}; use pool='cls' or 'mean'"
            )
        return pooled
    hidden = None
    if hidden_state is not None:
        states = _field(output, "hidden_states")
        if states is None:
            raise ValueError(
                f"hidden_state: expected a model output with hidden_states to take index "
                f"{hidden_state}, received {type(output).__name__} without them; run the "
                "model with output_hidden_states=True (extract passes it for dict batches)"
            )
        hidden = states[hidden_state]
    else:
        hidden = _field(output, "last_hidden_state")
    if hidden is not None:
        how = "mean" if pool in ("auto", "avg", "mean") else pool
        if how not in ("cls", "mean", "max"):
            raise ValueError(
                f"pool: expected 'cls', 'mean' or 'max' for token states, received {pool!r}"
            )
        return _masked_token_pool(hidden, attention_mask, how)
    if isinstance(output, list | tuple) and output:
        return pool_output(output[0], pool, attention_mask, hidden_state)
    raise TypeError(
        "model output: expected a tensor, a tuple of tensors, a Hugging Face ModelOutput "
        "(last_hidden_state) or a sentence-transformers dict (sentence_embedding), "
        f"received {type(output).__name__}; pass pool=<callable> to turn it into rows"
    )


def _pool_tensor(
    x: torch.Tensor, pool: PoolRule, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """:func:`pool_output` of a tensor: 2-D as is, 3-D over tokens, 4-D+ over the spatial
    dimensions (or flattened)."""
    if x.dim() <= 1:
        return x.reshape(-1, 1)
    if x.dim() == 2:
        return x
    if pool == "none":
        raise ValueError(
            f"pool: 'none' needs 2-D outputs, received shape {tuple(x.shape)}; use pool='auto'"
        )
    if pool == "flatten":
        return x.flatten(1)
    if pool == "pooler":
        raise ValueError("pool: 'pooler' needs a Hugging Face model output, received a tensor")
    if x.dim() == 3:
        how = "mean" if pool in ("auto", "avg", "mean") else pool
        return _masked_token_pool(x, attention_mask, how)
    if pool == "cls":
        raise ValueError(f"pool: 'cls' needs token states (B, T, D), received {tuple(x.shape)}")
    dims = tuple(range(2, x.dim()))
    return x.amax(dims) if pool == "max" else x.mean(dims)


def _labels_tensor(labels: Any, device: torch.device) -> Any:
    if isinstance(labels, torch.Tensor):
        return labels.to(device)
    try:
        import numpy as np

        if isinstance(labels, np.ndarray) and labels.dtype.kind in "iub":
            return torch.from_numpy(labels).to(device)
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    if isinstance(labels, list | tuple) and all(isinstance(v, int) for v in labels):
        return torch.tensor(labels, device=device)
    return list(labels)


# size: public entry point: one keyword per extraction option
def extract(
    model: nn.Module,
    loader: Iterable[Any],
    layer: str | None = None,
    pool: PoolRule | Callable[[Any], torch.Tensor] = "auto",
    device: torch.device | str | None = None,
    max_batches: int | None = None,
    into: Any = None,
    capture: Literal["output", "input"] = "output",
    hidden_state: int | None = None,
) -> Any:
    """Embeddings (one row per example) of ``model`` over ``loader``, with their labels.

    The model runs in eval mode under ``torch.no_grad()`` (its training flag is restored
    after). With ``layer`` (a dotted submodule name: ``"avgpool"``, ``"layer4"``,
    ``"encoder.layer.6"``), a forward hook captures that module's output (or its input with
    ``capture="input"``: the penultimate features when ``layer`` is the classifier, such as
    ``"fc"``) and the rest of the forward pass is skipped. Without ``layer`` the model's own
    output is used. What is captured is turned into rows by :func:`pool_output` (``pool``).

    Args:
        model: any ``nn.Module``; Hugging Face and sentence-transformers models included.
        loader: batches as ``(inputs, labels, ...)``, dicts (``labels`` key; the other keys are
            the model's keyword arguments, ``attention_mask`` is used for mean pooling) or
            tensors. Inputs that are dicts are passed as keyword arguments (positionally to a
            sentence-transformers model).
        layer: submodule to capture; None: the model output.
        pool: ``"auto"`` (4-D maps: global average; token states: masked mean), ``"avg"`` /
            ``"mean"``, ``"max"``, ``"cls"``, ``"pooler"`` (HF ``pooler_output``),
            ``"flatten"``, ``"none"``, or a callable ``output -> (B, D)``.
        device: where to run (inputs are moved there); default: the model's device.
        max_batches: stop after this many batches.
        into: an accumulator with ``update(features, labels)`` (``ClassStats``, the engine's
            ``Analyzer``): every batch is streamed into it and ``into`` is returned.
        capture: ``"output"`` or ``"input"`` of ``layer``.
        hidden_state: index into ``hidden_states`` of a Hugging Face output (``-1`` = last,
            ``0`` = embeddings); ``output_hidden_states=True`` is passed to the model.

    Returns:
        ``(features, labels)``: features ``(N, D)`` on the model's device, labels a tensor
        (``None`` when the batches had none; a list when they were strings), or ``into``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
        >>> loader = [(torch.randn(5, 3, 9, 9), torch.arange(5) % 2) for _ in range(3)]
        >>> x, y = extract(net, loader, layer="1")  # ReLU maps (B, 8, 7, 7), averaged
        >>> tuple(x.shape), tuple(y.shape)
        ((15, 8), (15,))
    """
    _check_extract_args(model, pool, capture, max_batches, into)
    if device is None:
        param = next(iter(model.parameters()), None)
        run_on = param.device if param is not None else torch.device("cpu")
    else:
        run_on = torch.device(device)
    runner = _Runner(model, run_on, layer, pool, hidden_state, _is_sentence_transformer(model))
    handle = None if layer is None else _capture_hook(model, layer, capture, runner.captured)
    feats_out: list[torch.Tensor] = []
    labels_out: list[Any] = []
    seen = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b, batch in enumerate(loader):
                if max_batches is not None and b >= max_batches:
                    break
                rows, y = runner.rows(b, batch)
                seen += 1
                if into is not None:
                    if y is None:
                        into.update(rows)
                    else:
                        into.update(rows, y)
                else:
                    feats_out.append(rows)
                    if y is not None:
                        labels_out.append(y)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    if seen == 0:
        raise ValueError("loader: expected at least one batch, received none")
    if into is not None:
        return into
    features = torch.cat(feats_out)
    if not labels_out:
        return features, None
    if all(isinstance(y, torch.Tensor) for y in labels_out):
        return features, torch.cat(labels_out)
    return features, [v for y in labels_out for v in y]


def _check_extract_args(
    model: Any, pool: Any, capture: str, max_batches: int | None, into: Any
) -> None:
    """:func:`extract`'s argument checks."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, received {type(model).__name__}")
    if not callable(pool) and pool not in POOLS:
        raise ValueError(f"pool: expected one of {POOLS} or a callable, received {pool!r}")
    if capture not in ("output", "input"):
        raise ValueError(f"capture: expected 'output' or 'input', received {capture!r}")
    if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
        raise ValueError(f"max_batches: expected a positive int or None, received {max_batches!r}")
    if into is not None and not callable(getattr(into, "update", None)):
        raise TypeError(
            "into: expected an accumulator with update(features, labels) such as ClassStats, "
            f"received {type(into).__name__}"
        )


def _capture_hook(
    model: nn.Module, layer: str, capture: str, captured: list[Any]
) -> torch.utils.hooks.RemovableHandle:
    """A forward hook on submodule ``layer`` that appends its output (or first input) to
    ``captured`` and stops the forward pass."""
    try:
        module = model.get_submodule(layer)
    except AttributeError as exc:
        names = [n for n, _ in model.named_modules() if n]
        hint = ", ".join(names[:15]) + (", ..." if len(names) > 15 else "")
        raise ValueError(
            f"layer: expected the name of a submodule of the model, received {layer!r}; "
            f"available: {hint}"
        ) from exc

    def hook(_m: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        captured.append(inputs[0] if capture == "input" else output)
        raise _StopForward

    return module.register_forward_hook(hook)


@dataclass
class _Runner:
    """One forward pass per batch of :func:`extract`, turned into rows and labels."""

    model: nn.Module
    run_on: torch.device
    layer: str | None
    pool: PoolRule | Callable[[Any], torch.Tensor]
    hidden_state: int | None
    positional_dict: bool
    captured: list[Any] = field(default_factory=list)

    def rows(self, b: int, batch: Any) -> tuple[torch.Tensor, Any]:
        """Rows ``(B, D)`` and labels (or None) of batch number ``b``."""
        inputs, labels = _split_batch(batch)
        inputs = _to(inputs, self.run_on)
        mask = inputs.get("attention_mask") if isinstance(inputs, Mapping) else None
        extra = {"output_hidden_states": True} if self.hidden_state is not None else {}
        self.captured.clear()
        try:
            if isinstance(inputs, Mapping):
                out = self.model(inputs) if self.positional_dict else self.model(**inputs, **extra)
            else:
                out = self.model(inputs, **extra)
        except _StopForward:
            out = None
        if self.layer is not None:
            if not self.captured:
                raise ValueError(
                    f"layer: {self.layer!r} was not called during the forward pass; pick "
                    "a submodule the model's forward uses"
                )
            out = self.captured[0]
        rows = pool_output(out, self.pool, mask, self.hidden_state).detach()
        if rows.dim() != 2:
            raise ValueError(f"pool: expected rows of shape (B, D), received {tuple(rows.shape)}")
        y = _labels_tensor(labels, rows.device) if labels is not None else None
        if y is not None and len(y) != rows.shape[0]:
            raise ValueError(
                f"loader: batch {b} has {rows.shape[0]} rows of features but {len(y)} "
                "labels; expected one label per example"
            )
        return rows, y
