"""Combining Analyzers: ``merge`` of two in one process, ``all_reduce`` over the processes of
``torch.distributed``, and the class alignment both need.

Class ids are dense per Analyzer, in the order labels arrived; two Analyzers are combined
after mapping the other's ids onto this one's by label value (or class name), so classes may
arrive in any order and on any subset of ranks. Every accumulator is then combined through
its own ``merge`` / ``all_reduce`` (:class:`~collapsekit.stats._accumulator.Accumulator`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from collapsekit.engine.budget import per_class_fits
from collapsekit.engine.labels import LabelEncoder
from collapsekit.engine.state import (
    analyzer_state,
    drop_per_class,
    grow,
    start_empty,
    start_per_class,
    started,
)
from collapsekit.stats._accumulator import distributed_active

if TYPE_CHECKING:  # annotations only
    from collapsekit.engine.analyzer import Analyzer


def complete_mapping(mapping: torch.Tensor, k: int) -> torch.Tensor:
    """``mapping`` (new ids of the first classes) followed by the ids of ``0..k-1`` it does not
    use, ascending: a full old-to-new id map for the spare capacity, in O(k) tensor ops.

    Example:
        >>> complete_mapping(torch.tensor([2, 0]), 4).tolist()
        [2, 0, 1, 3]
    """
    mapping = mapping.to(device="cpu", dtype=torch.long)
    used = torch.zeros(k, dtype=torch.bool)
    used[mapping] = True
    return torch.cat([mapping, torch.nonzero(~used).flatten()])


def agreed_metadata(metas: list[dict[str, Any]]) -> tuple[int, bool, int | None, str] | None:
    """(dim, labelled, reference_dim, input_dtype) shared by every rank that has rows (None
    when no rank has any); a disagreement is a ValueError, raised alike on every rank.

    Example:
        >>> meta = {"started": True, "dim": 4, "labelled": True, "reference_dim": None,
        ...         "input_dtype": "float32"}
        >>> agreed_metadata([meta, {**meta, "started": False, "dim": None}])
        (4, True, None, 'float32')
    """
    shapes = {
        (m["dim"], m["labelled"], m["reference_dim"], m["input_dtype"])
        for m in metas
        if m["started"]
    }
    if len(shapes) > 1:
        seen = sorted(shapes, key=str)
        raise ValueError(
            "features: expected every rank to feed rows of the same width, labelling, reference "
            f"width and dtype (dim, labelled, reference_dim, dtype), received {seen}; feed "
            "every rank the same kind of batches"
        )
    return next(iter(shapes)) if shapes else None


def rank_metadata(a: Analyzer) -> dict[str, Any]:
    """What one rank tells the others before any tensor is exchanged."""
    return {
        "started": a.class_stats is not None,
        "dim": a.dim,
        "labelled": a.labelled,
        "reference_dim": a.reference_dim,
        "input_dtype": a.input_dtype,
        "capacity": a.capacity,
        "encoder": a.encoder.state_dict(),
    }


def align(a: Analyzer, other: Analyzer) -> tuple[torch.Tensor, int]:
    """(``other``'s class ids mapped onto ``a``'s, ``a``'s capacity after growing for the
    classes only ``other`` has)."""
    mapping = a.encoder.mapping_from(other.encoder)
    if a.encoder.num_classes > a.capacity:
        grow(a, a.encoder.num_classes)
    return mapping, a.capacity


def merge(a: Analyzer, other: Analyzer, scratch: Analyzer) -> Analyzer:
    """Add the rows accumulated by ``other`` (left unchanged) into ``a``; returns ``a``.
    ``scratch``, a new Analyzer, receives a copy of ``other`` to align its class ids."""
    if other.class_stats is None:
        return a
    if a.class_stats is None:
        a.load_state_dict(other.state_dict())
        return a
    if (other.dim, other.labelled, other.reference_dim) != (a.dim, a.labelled, a.reference_dim):
        raise ValueError(
            "other: expected an Analyzer of the same width, labelling and reference width "
            f"{(a.dim, a.labelled, a.reference_dim)}, received "
            f"{(other.dim, other.labelled, other.reference_dim)}"
        )
    theirs = scratch
    theirs.load_state_dict(analyzer_state(other, per_class=other.per_class is None))
    start_per_class(a)  # the merged sample may not hold every row: stream both
    start_per_class(theirs)
    # other's K x D^2 scatters are merged in place of a copy (read through the id mapping)
    their_per_class = other.per_class if other.per_class is not None else theirs.per_class
    mapping, k = align(a, theirs) if a.labelled else (torch.zeros(1, dtype=torch.long), 1)
    full = complete_mapping(mapping, k)[: theirs.capacity]
    _, their_stats, their_units = started(theirs)
    _, class_stats, units = started(a)
    their_stats.remap_classes(full, k)
    their_units.remap_classes(full, k)
    class_stats.merge(their_stats.to(class_stats.device))
    units.merge(their_units)
    if a.per_class is not None and their_per_class is not None:
        a.per_class.merge(their_per_class, full.to(a.per_class.counts.device))
    elif a.per_class is not None:
        drop_per_class(a, k)
    if a.cross is not None and theirs.cross is not None:
        a.cross.merge(theirs.cross)
    theirs.reservoir.remap_classes(full)
    if theirs.reservoir.stream == a.reservoir.stream:
        theirs.reservoir.keys = 1.0 - theirs.reservoir.keys  # keep the two samples distinct
    a.reservoir.merge(theirs.reservoir)
    a.n_rows += theirs.n_rows
    return a


def _union_encoder(a: Analyzer, metas: list[dict[str, Any]]) -> LabelEncoder:
    """The label values of every rank, in one encoder (this rank's first)."""
    union = LabelEncoder(a.encoder.class_names)
    try:
        for meta in metas:
            if not meta["encoder"]["values"]:
                continue  # no classes (an idle rank): its label kind says nothing
            enc = LabelEncoder()
            enc.load_state_dict(meta["encoder"])
            union.mapping_from(enc)
    except (TypeError, ValueError) as err:
        raise ValueError(f"labels: ranks disagree on their labels: {err}") from err
    return union


def all_reduce(a: Analyzer, group: Any = None) -> Analyzer:
    """Combine ``a`` over every process of ``torch.distributed`` (see
    ``Analyzer.all_reduce``); no-op when it is not initialised."""
    if not distributed_active():
        return a
    import torch.distributed as dist

    metas: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(metas, rank_metadata(a), group=group)
    shape = agreed_metadata(metas)
    if shape is None:  # no rank has rows: nothing to combine
        return a
    union = _union_encoder(a, metas)
    if a.class_stats is None:
        start_empty(a, *shape, device=a.device or torch.device("cpu"))
    dim, class_stats, units = started(a)
    if a.encoder.num_classes:
        mapping = union.mapping_from(a.encoder)
    else:
        mapping = torch.zeros(0, dtype=torch.long)
    k = max(union.num_classes, 1, *(int(m["capacity"]) for m in metas if m["started"]))
    # the same k on every rank (a rank that adopted the metadata just now started with a
    # capacity of at most 16 or its class count, both <= k)
    full = complete_mapping(mapping, k)[: a.capacity]
    class_stats.remap_classes(full, k)
    units.remap_classes(full.to(units.shift.device), k)
    start_per_class(a)  # every rank streams them (the gathered sample may not hold all)
    budget_ok = per_class_fits(k, dim, a.max_memory_bytes)
    flags = torch.tensor([1.0 if (a.per_class is not None and budget_ok) else 0.0])
    dist.all_reduce(flags, op=dist.ReduceOp.MIN, group=group)
    if a.per_class is not None and bool(flags[0] > 0):
        a.per_class.remap_classes(full.to(a.per_class.counts.device), k)
        a.per_class.all_reduce(group)
    elif a.labelled:
        drop_per_class(a, k)
    a.reservoir.remap_classes(full)
    a.encoder, a.capacity = union, k
    class_stats.all_reduce(group)
    units.all_reduce(group)
    if a.cross is not None:
        a.cross.all_reduce(group)
    a.reservoir.all_reduce(group)
    total = torch.tensor([float(a.n_rows)], dtype=torch.float64)
    dist.all_reduce(total, group=group)
    a.n_rows = int(total[0])
    return a
