"""Any label values (integers of any size, strings) mapped to dense class ids as they arrive.

Memory follows the number of distinct classes, never the largest label value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


class LabelEncoder:
    """Maps label values to dense ids 0..K-1 in order of first arrival.

    * Integer labels (any int64 value, sparse or huge): the class is the value; its name is the
      value as text. Classifier weight row ``j`` belongs to label ``j``.
    * String labels: the class is the string.
    * With ``class_names`` given, the classes are fixed up front in that order: string labels
      must be among them, integer labels index into them (label ``j`` is ``class_names[j]``,
      and so is weight row ``j``).

    Example:
        >>> enc = LabelEncoder()
        >>> enc.encode([7, 2**40, 7], torch.device("cpu")).tolist()
        [0, 1, 0]
        >>> enc.names
        ['7', '1099511627776']
    """

    def __init__(self, class_names: Sequence[Any] | None = None) -> None:
        self.kind: str | None = None  # "int" or "str"
        self.fixed = class_names is not None
        self.values: list[Any] = []  # label value of each dense id
        self._lookup: dict[Any, int] = {}
        self._sorted = torch.zeros(0, dtype=torch.long)  # known int values, sorted
        self._sorted_ids = torch.zeros(0, dtype=torch.long)
        self.class_names: list[str] | None = None
        if class_names is not None:
            names = [str(c) for c in class_names]
            if len(set(names)) != len(names):
                raise ValueError("class_names: expected distinct names, received duplicates")
            if not names:
                raise ValueError("class_names: expected at least one name, received none")
            self.class_names = names

    # ------------------------------------------------------------------ encoding
    @property
    def num_classes(self) -> int:
        return len(self.values)

    @property
    def names(self) -> list[str]:
        """Display name of each dense id (cached until classes are added: callers index it
        once per class, which must not rebuild K names each time)."""
        key = (id(self.values), len(self.values), self.kind)
        cached = self.__dict__.get("_names")
        if cached is not None and cached[0] == key:
            return cached[1]
        if self.class_names is not None and self.kind == "int":
            names = [self.class_names[int(v)] for v in self.values]
        else:
            names = [str(v) for v in self.values]
        self.__dict__["_names"] = (key, names)
        return names

    def encode(self, labels: Any, device: torch.device, n_rows: int | None = None) -> torch.Tensor:
        """Dense ids (long tensor on ``device``) of a batch of labels; new classes are added."""
        if isinstance(labels, torch.Tensor):
            raw: Any = labels.detach()
        else:
            raw = np.asarray(labels)
            if raw.dtype.kind in "U S O".split():
                return self._encode_strings(raw, device, n_rows)
            if raw.dtype.byteorder not in ("=", "|") or not raw.flags.c_contiguous:
                raw = np.ascontiguousarray(raw.astype(raw.dtype.newbyteorder("=")))
            if raw.dtype.kind == "b":
                raise TypeError("labels: expected integer class labels or names, received bool")
            raw = torch.from_numpy(raw)
        y = raw
        if y.dim() == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.dim() != 1:
            raise ValueError(
                f"labels: expected a 1-D array of N labels, received shape {tuple(y.shape)}; "
                "for one-hot labels pass labels.argmax(1)"
            )
        if n_rows is not None and y.shape[0] != n_rows:
            raise ValueError(
                f"labels: expected one label per feature row ({n_rows}), received {y.shape[0]}"
            )
        if y.dtype == torch.bool or y.dtype.is_complex:
            raise TypeError(f"labels: expected integer class labels, received dtype {y.dtype}")
        if y.dtype.is_floating_point:
            if y.numel() and not bool(torch.isfinite(y).all()):
                bad = int((~torch.isfinite(y)).sum())
                raise ValueError(
                    f"labels: expected integer class labels, received {bad} NaN or Inf "
                    "value(s); drop or label those rows first"
                )
            if y.numel() and not bool((y == y.round()).all()):
                raise ValueError(
                    f"labels: expected integer class labels, received non-integer floats "
                    f"(dtype {y.dtype}); pass class indices, e.g. labels.long()"
                )
            if y.numel() and float(y.abs().max()) >= 2.0**53:
                raise ValueError(
                    "labels: expected float labels below 2**53 (exact integers), received "
                    "larger values; pass int64 labels"
                )
        y = y.long()
        self._set_kind("int")
        if y.numel() == 0:
            return torch.zeros(0, dtype=torch.long, device=device)
        if self.class_names is not None:
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= len(self.class_names):
                raise ValueError(
                    f"labels: expected indices into class_names (0..{len(self.class_names) - 1}),"
                    f" received {lo if lo < 0 else hi}"
                )
        uniq, inverse = torch.unique(y, return_inverse=True)
        uniq_cpu = uniq.cpu()
        ids = self._ids_for_ints(uniq_cpu)
        return ids.to(inverse.device)[inverse].to(device)

    def _ids_for_ints(self, uniq: torch.Tensor) -> torch.Tensor:
        pos = torch.searchsorted(self._sorted, uniq)
        pos_c = pos.clamp_max(max(self._sorted.numel() - 1, 0))
        known = (
            (self._sorted[pos_c] == uniq) if self._sorted.numel() else torch.zeros_like(uniq).bool()
        )
        ids = torch.empty_like(uniq)
        if self._sorted.numel():
            ids[known] = self._sorted_ids[pos_c[known]]
        new = uniq[~known]
        if new.numel():
            start = len(self.values)
            new_ids = torch.arange(start, start + new.numel())
            ids[~known] = new_ids
            self.values.extend(int(v) for v in new.tolist())
            merged = torch.cat([self._sorted, new])
            merged_ids = torch.cat([self._sorted_ids, new_ids])
            order = torch.argsort(merged)
            self._sorted, self._sorted_ids = merged[order], merged_ids[order]
        return ids

    def _encode_strings(
        self, raw: np.ndarray, device: torch.device, n_rows: int | None
    ) -> torch.Tensor:
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        if raw.ndim != 1:
            raise ValueError(
                f"labels: expected a 1-D array of N labels, received shape {raw.shape}"
            )
        if n_rows is not None and raw.shape[0] != n_rows:
            raise ValueError(
                f"labels: expected one label per feature row ({n_rows}), received {raw.shape[0]}"
            )
        values = raw.tolist()
        if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in values):
            raise ValueError(
                "labels: expected a label for every row, received None or NaN; drop or label "
                "those rows first"
            )
        if any(not isinstance(v, str | bytes) for v in values):
            if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
                return self.encode(np.asarray(values, dtype=np.int64), device, n_rows)
            raise TypeError("labels: expected all labels to be strings, or all integers")
        self._set_kind("str")
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            key = v.decode() if isinstance(v, bytes) else v
            idx = self._lookup.get(key)
            if idx is None:
                if self.class_names is not None:
                    raise ValueError(
                        f"labels: expected names from class_names, received {key!r}; add it to "
                        "class_names or drop those rows"
                    )
                idx = len(self.values)
                self._lookup[key] = idx
                self.values.append(key)
            out[i] = idx
        return torch.from_numpy(out).to(device)

    def _set_kind(self, kind: str) -> None:
        if self.kind is None:
            self.kind = kind
            if self.class_names is not None and kind == "str":
                for name in self.class_names:
                    self._lookup[name] = len(self.values)
                    self.values.append(name)
        elif self.kind != kind:
            raise TypeError(
                f"labels: expected {self.kind} labels like the earlier batches, received {kind}"
            )

    # ------------------------------------------------------------------ ordering and weights
    def canonical_order(self) -> list[int]:
        """Dense ids in reporting order: integer labels ascending, names as in
        ``class_names`` (else sorted)."""
        ids = list(range(len(self.values)))
        if self.kind == "str" and self.class_names is not None:
            return ids  # already in class_names order
        return sorted(ids, key=lambda i: self.values[i])

    def weight_rows(self, ids: Sequence[int], num_weight_rows: int) -> list[int]:
        """The classifier weight row of each dense id in ``ids``.

        Integer labels: row = label value (or the index into ``class_names``). Names: the
        position in ``class_names``; without ``class_names`` the pairing would be a guess, so
        this raises.
        """
        if self.kind == "str":
            if self.class_names is None:
                raise ValueError(
                    "weights: string labels give no order for the classifier rows; pass "
                    "class_names=[...] (CLI: --class-names FILE) listing the class of weight row "
                    "0, 1, ... so rows are matched to classes explicitly"
                )
            position = {name: j for j, name in enumerate(self.class_names)}
            rows = [position[self.values[i]] for i in ids]
        else:
            rows = [int(self.values[i]) for i in ids]
        bad = [r for r in rows if r < 0 or r >= num_weight_rows]
        if bad:
            raise ValueError(
                f"weights: expected a row for every class index, received {num_weight_rows} "
                f"rows but labels reach {max(bad) if max(bad) >= 0 else min(bad)}; pass the full "
                "classifier (one row per class index)"
            )
        return rows

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "values": list(self.values), "class_names": self.class_names}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`, all or nothing: ``kind`` None, 'int' or 'str';
        ``values`` a list of distinct labels of that kind (none before the first batch);
        integer values within ``class_names`` when names are given; string values exactly the
        ``class_names`` when given (a fixed encoder holds every name). A ValueError names the
        key at fault; nothing changes then."""
        from collapsekit.stats._tensor_state import require_keys, state_check

        require_keys(state, ("kind", "values", "class_names"), "LabelEncoder")
        names = state["class_names"]
        state_check(
            names is None or isinstance(names, list | tuple),
            "class_names",
            "None or a list of names",
            type(names).__name__,
        )
        try:
            fresh = LabelEncoder(names)
        except ValueError as err:
            raise ValueError(f"state['class_names']: {err}") from None
        kind, values = state["kind"], state["values"]
        state_check(isinstance(values, list | tuple), "values", "a list", type(values).__name__)
        values = list(values)
        _check_values(kind, values, fresh.class_names)
        if kind == "int":
            fresh._set_kind("int")
            fresh.values = [int(v) for v in values]
            if values:
                as_tensor = torch.tensor(fresh.values, dtype=torch.long)
                order = torch.argsort(as_tensor)
                fresh._sorted, fresh._sorted_ids = as_tensor[order], order
        elif kind == "str":
            fresh.kind = "str"
            fresh.values = [str(v) for v in values]
            fresh._lookup = {v: i for i, v in enumerate(fresh.values)}
        elif kind is not None:
            raise ValueError(f"state: expected label kind 'int' or 'str', received {kind!r}")
        self.__dict__.update(fresh.__dict__)

    def mapping_from(self, other: LabelEncoder) -> torch.Tensor:
        """Ids in ``self`` of ``other``'s classes (new classes are added to ``self``)."""
        if other.kind is None:
            return torch.zeros(0, dtype=torch.long)
        if self.kind is None:
            self._set_kind(other.kind)
        if self.kind != other.kind:
            raise TypeError(f"other: expected {self.kind} labels, received {other.kind} labels")
        if self.kind == "int":
            return self._ids_for_ints(torch.tensor(other.values, dtype=torch.long))
        ids = []
        for v in other.values:
            if v not in self._lookup:
                if self.class_names is not None:
                    raise ValueError(f"other: class {v!r} is not in class_names")
                self._lookup[v] = len(self.values)
                self.values.append(v)
            ids.append(self._lookup[v])
        return torch.tensor(ids, dtype=torch.long)


def _plain_ints(values: list[Any]) -> bool:
    """Whether every value is a Python ``int`` (not a bool): the labels an encoder writes, checked
    in C-speed passes (20,000 classes: ~1 ms against ~20 ms for per-value isinstance tests)."""
    return set(map(type, values)) <= {int}


def _distinct(kind: Any, values: list[Any]) -> bool:
    """Whether ``values`` holds no label twice (integers compared in numpy when they fit)."""
    if kind == "int" and _plain_ints(values):
        try:
            ordered = np.sort(np.asarray(values, dtype=np.int64))
            return bool((ordered[1:] != ordered[:-1]).all())
        except OverflowError:  # beyond int64: compare their texts below
            pass
    return len(set(map(str, values))) == len(values)


def _check_values(kind: Any, values: list[Any], names: list[str] | None) -> None:
    """The label values of an encoder state: of ``kind``, distinct, and complete for names."""
    from collapsekit.stats._tensor_state import state_check

    state_check(kind in (None, "int", "str"), "kind", "None, 'int' or 'str'", repr(kind))
    state_check(kind is not None or not values, "values", "none before the first batch", values)
    state_check(_distinct(kind, values), "values", "distinct labels", "repeats")
    if kind == "int":
        if not _plain_ints(values):  # the slow path only to name the offenders
            bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int | np.integer)]
            state_check(not bad, "values", "integer labels", bad[:3])
        if names is not None:
            out = [v for v in values if not 0 <= int(v) < len(names)]
            state_check(not out, "values", f"indices into the {len(names)} class_names", out[:3])
    elif kind == "str":
        bad = [v for v in values if not isinstance(v, str)]
        state_check(not bad, "values", "string labels", bad[:3])
        if names is not None:
            state_check(
                list(values) == names,
                "values",
                "exactly the class_names, in their order (a fixed encoder holds every name)",
                f"{len(values)} values",
            )
