"""analyze_layers: collapse across depth, every named layer captured in one pass."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import torch
from torch import nn

from collapsekit._validation import check_labels
from collapsekit.functional.separation_law import separation_law_fit
from collapsekit.metrics import MetricContext, evaluate, keys
from collapsekit.metrics.spectrum import deflation
from collapsekit.profile.layer_profile import LayerProfile
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.deflated_scatter import DeflatedScatter

PoolRule = Literal["avg", "max", "flatten"]
_POOLS = ("avg", "max", "flatten")
_CHANNEL_FIRST_1D = (
    nn.Conv1d,
    nn.ConvTranspose1d,
    nn.BatchNorm1d,
    nn.InstanceNorm1d,
    nn.MaxPool1d,
    nn.AvgPool1d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveMaxPool1d,
)


def pool_features(
    value: torch.Tensor,
    pool: PoolRule | Callable[[torch.Tensor], torch.Tensor] = "avg",
    channels_first: bool = False,
) -> torch.Tensor:
    """Turn a layer's activation into rows (B x D) by the stated rule.

    * 2-D (B, D): unchanged. 1-D (B,): one column.
    * 4-D and more (B, C, H, W, ...): ``"avg"`` averages over every spatial dimension (global
      average pooling), ``"max"`` takes the maximum, ``"flatten"`` keeps everything (D = C*H*W).
    * 3-D (B, T, D), the token layout of transformers: ``"avg"`` averages over the T tokens,
      ``"max"`` takes the maximum over them. Outputs of 1-D convolutions, norms and pools
      (B, C, L) are channel-first: there the L positions are pooled (``channels_first``).
    * a callable ``pool`` is applied as is and must return (B, D).

    Example:
        >>> import torch
        >>> pool_features(torch.ones(2, 3, 4, 4)).shape, pool_features(torch.ones(2, 7, 5)).shape
        (torch.Size([2, 3]), torch.Size([2, 5]))
    """
    if callable(pool):
        return pool(value)
    if value.dim() <= 1:
        return value.reshape(-1, 1)
    if value.dim() == 2 or pool == "flatten":
        return value.flatten(1)
    if value.dim() == 3 and not channels_first:
        dims: tuple[int, ...] = (1,)
    else:
        dims = tuple(range(2, value.dim()))
    return value.mean(dims) if pool == "avg" else value.amax(dims)


# size: public entry point: one keyword per profiling option
def analyze_layers(
    model: nn.Module,
    loader: Iterable[Any],
    layers: Sequence[str],
    pool: PoolRule | Callable[[torch.Tensor], torch.Tensor] = "avg",
    device: torch.device | str | None = None,
    num_classes: int | None = None,
    capture: Literal["output", "input"] = "output",
    batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
    second_pass: bool = True,
    separation_metric: Literal["separation_fuzziness", "nc1"] = "separation_fuzziness",
) -> LayerProfile:
    """Collapse metrics of every named layer, from one pass of the model over ``loader``.

    A forward hook on each layer in ``layers`` pools its activation (``pool``, see
    :func:`pool_features`: global average over spatial dimensions for 4-D maps, mean over
    tokens for (B, T, D)) and streams the rows into a :class:`collapsekit.ClassStats` of its
    own (accumulated in float64), so memory is O(len(layers) x D^2) whatever the dataset size.
    Per layer
    (``profile.layers[name]``): ``nc1``, ``nc1_quotient``, ``cdnv``, ``effective_rank`` (of the
    centred features, from the streamed covariance), ``ncc_accuracy`` and ``dim``.

    ``ncc_accuracy`` (fraction of rows whose nearest class mean, by Euclidean distance, is their
    own class: NC4's nearest-class-centre rule as a classifier) needs the final class means, so
    it takes a second pass over ``loader``. It runs when the loader can be iterated again (a
    list, a DataLoader: anything whose ``iter()`` is not itself) and ``second_pass`` is true;
    otherwise it is NaN and ``profile.notes`` says so.

    ``profile.separation_law``: He & Su's law of data separation fitted to the log of the
    separation fuzziness D = Tr(SS_W SS_B^+) (``separation_fuzziness``) against the layer index
    (in the order of ``layers``): ``rho = exp(slope)`` and ``r2``. ``separation_metric="nc1"``
    fits NC1 instead (the same slope only for exactly balanced classes, where D = K x NC1).

    Args:
        model: any module; it is put in eval mode for the passes (its mode is restored) and run
            under ``torch.no_grad()``.
        loader: iterable of batches; by default ``batch[0]`` is the input and ``batch[1]`` the
            integer labels (override with ``batch_fn(batch) -> (inputs, labels)``). A dict input
            is passed as keyword arguments.
        layers: dotted submodule names, shallow to deep (``"layer1"``, ``"encoder.layers.3"``).
        pool: pooling rule for activations of more than two dimensions, or a callable.
        device: where inputs are sent (default: the device of the model's first parameter).
        num_classes: number of classes; ``None`` grows it from the labels seen.
        capture: ``"output"`` (default) or ``"input"`` of each named layer.
        second_pass: set False to skip the NCC pass.
        separation_metric: the per-layer value the separation law is fitted to:
            ``"separation_fuzziness"`` (He & Su's D, the default) or ``"nc1"`` (equal to D/K
            only for exactly balanced classes).

    Reference: He & Su, "A law of data separation in deep learning", PNAS 2023; Papyan, Han &
    Donoho, PNAS 2020 (NC1, NC4).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(120, 4, generator=g); y = torch.arange(120) % 3
        >>> x[:, :3] += 4 * torch.eye(3)[y]
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> batches = list(zip(x.split(40), y.split(40)))
        >>> profile = analyze_layers(net, batches, layers=["0", "1", "2"])
        >>> sorted(profile.layers["2"])[:3], 0 <= profile.layers["2"]["ncc_accuracy"] <= 1
        (['cdnv', 'dim', 'effective_rank'], True)
    """
    names = _check_layers(model, layers)
    if separation_metric not in ("separation_fuzziness", "nc1"):
        raise ValueError(
            "separation_metric: expected 'separation_fuzziness' or 'nc1', received "
            f"{separation_metric!r}"
        )
    if not (callable(pool) or pool in _POOLS):
        raise ValueError(f"pool: expected one of {_POOLS} or a callable, received {pool!r}")
    if capture not in ("output", "input"):
        raise ValueError(f"capture: expected 'output' or 'input', received {capture!r}")
    get = batch_fn or _default_batch
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    dev = torch.device(device)
    state = _Capture(model, names, pool, capture, num_classes)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                inputs, labels = get(batch)
                state.begin(labels)
                _forward(model, inputs, dev)
                state.finish()
            profile_notes: list[str] = []
            ncc: dict[str, float] = {}
            rerunnable = _can_iterate_again(loader)
            contexts = _contexts(state)
            if second_pass and rerunnable and state.num_samples > 0:
                # the same pass resolves spectrum tails below the moments' float64 floor
                plans = {n: deflation(c) for n, c in contexts.items()}
                state.deflate = {n: acc for n, acc in plans.items() if acc is not None}
                ncc = state.nearest_centre_pass(model, loader, get, dev)
                for name, acc in state.deflate.items():
                    contexts[name].deflated = acc
            elif second_pass:
                profile_notes.append(
                    "ncc_accuracy needs a second pass and the loader can be iterated only once "
                    "(pass a list or a DataLoader): reported as n/a"
                )
    finally:
        state.remove()
        model.train(was_training)
    if state.num_samples == 0:
        raise ValueError("loader: expected at least one batch, received none")
    table: dict[str, dict[str, float]] = {}
    for name in names:
        stats = state.stats[name]
        row: dict[str, float] = {"dim": float(stats.dim), "num_samples": float(stats.num_samples)}
        row.update(dict.fromkeys(keys("profile"), math.nan))
        if name in contexts:
            # the registry's layer-profile metrics over this layer's class moments
            values, _ = evaluate(contexts[name], keys("profile"))
            row.update(values)
        if int((stats.counts > 0).sum()) < 2:
            profile_notes.append(f"layer {name!r}: fewer than two classes, no NC metrics")
        row["ncc_accuracy"] = ncc.get(name, math.nan)
        table[name] = row
    law = separation_law_fit([table[n][separation_metric] for n in names])
    pool_name = pool if isinstance(pool, str) else getattr(pool, "__name__", "custom")
    return LayerProfile(table, law, pool_name, profile_notes, separation_metric)


# ---------------------------------------------------------------------- internals
def _contexts(state: _Capture) -> dict[str, MetricContext]:
    """The metric context of each layer with at least two rows."""
    return {
        name: MetricContext.from_class_stats(stats)
        for name, stats in state.stats.items()
        if stats.num_samples >= 2
    }


def _default_batch(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, dict):
        for xk, yk in (("x", "y"), ("input", "label"), ("inputs", "labels"), ("image", "label")):
            if xk in batch and yk in batch:
                return batch[xk], batch[yk]
    if isinstance(batch, tuple | list) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TypeError(
        "loader: expected batches (inputs, labels, ...) or dicts with 'x'/'y' keys, received "
        f"{type(batch).__name__}; pass batch_fn=lambda b: (inputs, labels)"
    )


def _forward(model: nn.Module, inputs: Any, device: torch.device) -> None:
    if isinstance(inputs, dict):
        model(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()})
    elif isinstance(inputs, tuple | list):
        model(*[v.to(device) if torch.is_tensor(v) else v for v in inputs])
    else:
        model(inputs.to(device) if torch.is_tensor(inputs) else inputs)


def _can_iterate_again(loader: Any) -> bool:
    try:
        return iter(loader) is not loader
    except TypeError:
        return False


def _check_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    if isinstance(layers, str) or not layers:
        raise ValueError(
            "layers: expected a non-empty list of submodule names, received "
            f"{layers!r}; e.g. layers=['layer1', 'layer2', 'fc']"
        )
    names = list(layers)
    known = dict(model.named_modules())
    missing = [n for n in names if n not in known]
    if missing:
        sample = ", ".join(n for n in list(known)[1:21])
        raise ValueError(
            f"layers: expected names of submodules of the model, received unknown {missing}; "
            f"available: {sample}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"layers: expected distinct names, received duplicates in {names}")
    return names


def _grow(stats: ClassStats, num_classes: int) -> ClassStats:
    """The same state with room for ``num_classes`` classes (new classes empty)."""
    bigger = ClassStats(num_classes, stats.dim, device=stats.device)
    state = stats.state_dict()
    extra = num_classes - stats.num_classes
    for key in ("counts", "shift", "resid_sum", "resid_sq"):
        t = state[key]
        pad = torch.zeros((extra, *t.shape[1:]), dtype=t.dtype, device=t.device)
        state[key] = torch.cat([t, pad])
    state["num_classes"] = num_classes
    bigger.load_state_dict(state)
    return bigger


class _Capture:
    """Forward hooks feeding one ClassStats per layer; labels set per batch."""

    def __init__(
        self,
        model: nn.Module,
        names: list[str],
        pool: Any,
        capture: str,
        num_classes: int | None = None,
    ) -> None:
        self.names = names
        self.pool = pool
        self.capture = capture
        self.stats: dict[str, ClassStats] = {}
        self.labels: torch.Tensor | None = None
        self.num_classes = num_classes or 0
        self.fixed_classes = num_classes
        self.num_samples = 0
        self.seen: set[str] = set()
        self.sink: Callable[[str, torch.Tensor], None] | None = None
        #: layers whose spectrum tail the second pass resolves (metrics.spectrum.deflation)
        self.deflate: dict[str, DeflatedScatter] = {}
        self.handles = [model.get_submodule(n).register_forward_hook(self._hook(n)) for n in names]

    def begin(self, labels: Any) -> None:
        y = check_labels(labels, _length(labels), self.fixed_classes, "labels")
        if y.numel():
            self.num_classes = max(self.num_classes, int(y.max()) + 1)
        self.labels = y
        self.seen = set()

    def finish(self) -> None:
        missing = [n for n in self.names if n not in self.seen]
        if missing:
            raise ValueError(
                f"layers: {missing} did not run during the forward pass; name layers the "
                "model's forward() calls"
            )
        assert self.labels is not None
        self.num_samples += int(self.labels.numel())

    def _hook(self, name: str) -> Callable[..., None]:
        module_is_1d = None

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            nonlocal module_is_1d
            if module_is_1d is None:
                module_is_1d = isinstance(module, _CHANNEL_FIRST_1D)
            value = inputs[0] if self.capture == "input" else output
            if isinstance(value, tuple | list):
                value = value[0]
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"layers: the {self.capture} of {name!r} is a {type(value).__name__}, "
                    "expected a tensor"
                )
            feats = pool_features(value.detach(), self.pool, module_is_1d)
            if self.sink is not None:
                self.sink(name, feats)
            else:
                self._update(name, feats)
            self.seen.add(name)

        return hook

    def _update(self, name: str, feats: torch.Tensor) -> None:
        assert self.labels is not None
        if feats.shape[0] != self.labels.numel():
            raise ValueError(
                f"layers: {name!r} produced {feats.shape[0]} rows for a batch of "
                f"{self.labels.numel()} labels; pool its activation to (batch, D) with pool="
            )
        stats = self.stats.get(name)
        if stats is None:
            stats = ClassStats(max(self.num_classes, 2), feats.shape[1], device=feats.device)
        elif stats.num_classes < self.num_classes:
            stats = _grow(stats, self.num_classes)
        self.stats[name] = stats
        # float64 accumulation: a float32 scatter leaves ~1e-7 * top noise on the eigenvalues of
        # rank-deficient layers (a Linear that widens, ReLU dead units), which would inflate the
        # effective rank; the profile is a diagnostic, exactness wins over GEMM speed here
        stats.update(feats.double(), self.labels.to(feats.device))

    def nearest_centre_pass(
        self, model: nn.Module, loader: Iterable[Any], get: Callable[[Any], Any], dev: torch.device
    ) -> dict[str, float]:
        centres = {}
        for name, stats in self.stats.items():
            if int((stats.counts > 0).sum()) < 2:
                continue
            mu_g = stats.global_mean_vector()
            means = stats.class_means() - mu_g
            centres[name] = (mu_g, means, means.square().sum(1), stats.present_classes())
        correct = dict.fromkeys(centres, 0)
        total = dict.fromkeys(centres, 0)

        def sink(name: str, feats: torch.Tensor) -> None:
            if name in self.deflate:
                self.deflate[name].update(feats)
            if name not in centres:
                return
            assert self.labels is not None
            mu_g, means, sq, ids = centres[name]
            h = feats.double() - mu_g.to(feats.device)
            dist = sq.to(feats.device)[None, :] - 2.0 * h @ means.to(feats.device).T
            pred = ids.to(feats.device)[dist.argmin(1)]
            correct[name] += int((pred == self.labels.to(feats.device)).sum())
            total[name] += int(feats.shape[0])

        self.sink = sink
        try:
            for batch in loader:
                inputs, labels = get(batch)
                self.labels = check_labels(labels, _length(labels), None, "labels")
                _forward(model, inputs, dev)
        finally:
            self.sink = None
        return {n: correct[n] / total[n] for n in centres if total[n] > 0}

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _length(labels: Any) -> int:
    shape = getattr(labels, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return len(labels)
