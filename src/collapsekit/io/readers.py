"""Read embeddings and labels from .npy, .npz, .pt, .safetensors, .parquet, .h5 (and labels
from .txt/.csv too). Large .npy and .h5 files stay on disk and are read batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING_SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".safetensors", ".parquet", ".h5", ".hdf5")
LABEL_SUFFIXES = (*EMBEDDING_SUFFIXES, ".txt", ".csv")


class InputError(ValueError):
    """A file could not be used; the message is one readable line."""


def _missing(extra: str, package: str) -> InputError:
    return InputError(
        f"reading this format needs the optional package '{package}': "
        f"pip install 'collapsekit[{extra}]'"
    )


@dataclass
class ArraySource:
    """A 2-D array that may live on disk (numpy memmap, h5py dataset)."""

    path: Path
    array: Any
    extras: dict[str, Any] = field(default_factory=dict)  # other arrays found in the file

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.array.shape[0]), int(self.array.shape[1]))

    @property
    def nbytes(self) -> int:
        itemsize = np.dtype(self.array.dtype).itemsize
        return self.shape[0] * self.shape[1] * itemsize

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start row, rows) in order; each batch is read from disk only when needed."""
        n = self.shape[0]
        for lo in range(0, n, batch_size):
            yield lo, np.asarray(self.array[lo : lo + batch_size])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows at sorted indices ``rows`` (read from disk for memmaps and h5 datasets)."""
        return np.asarray(self.array[np.sort(rows)])


class SafetensorsRows:
    """Row access to one tensor of a .safetensors file without reading the whole file."""

    def __init__(self, path: Path, key: str) -> None:
        try:
            from safetensors import safe_open
        except ImportError as exc:
            raise _missing("formats", "safetensors") from exc
        self._handle = safe_open(str(path), framework="pt")
        keys = list(self._handle.keys())
        if key not in keys:
            raise InputError(
                f"{path}: expected a key '{key}' holding the embeddings, found keys: "
                f"{', '.join(sorted(keys)) or 'none'}; name the key with --key"
            )
        self.keys = keys
        self._slice = self._handle.get_slice(key)
        self.shape = tuple(self._slice.get_shape())
        stored = self._slice.get_dtype()
        self.dtype = np.dtype(np.float64 if stored == "F64" else np.float32)
        if not stored.startswith(("F", "BF")):
            self.dtype = np.dtype(np.int64)

    def _to_numpy(self, t: Any) -> np.ndarray:
        return t.float().numpy() if t.is_floating_point() and t.dtype != _torch_f64() else t.numpy()

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, slice):
            return self._to_numpy(self._slice[index])
        import torch

        rows = [self._slice[int(i) : int(i) + 1] for i in np.asarray(index)]
        return self._to_numpy(torch.cat(rows)) if rows else np.empty((0, *self.shape[1:]))

    def tensor(self, key: str) -> np.ndarray:
        """Another (small) tensor of the same file, whole."""
        return self._to_numpy(self._handle.get_tensor(key))


def _torch_f64() -> Any:
    import torch

    return torch.float64


def _tensor_to_numpy(t: Any) -> np.ndarray:
    """A torch tensor as numpy: float16/bfloat16 (numpy has no bf16) become float32."""
    import torch

    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.numpy()


def _check_2d(arr: Any, path: Path, what: str) -> None:
    shape = tuple(getattr(arr, "shape", ()))
    if len(shape) != 2:
        raise InputError(
            f"{path}: expected {what} as a 2-D array (N rows x D features), received shape "
            f"{shape}; flatten or pool the other dimensions first"
        )
    kind = np.dtype(arr.dtype).kind
    if kind not in "fiu":
        raise InputError(f"{path}: expected numeric {what}, received dtype {arr.dtype}")


def _pick(mapping: dict[str, Any], key: str, path: Path, what: str) -> Any:
    if key not in mapping:
        available = ", ".join(sorted(mapping)) or "none"
        raise InputError(
            f"{path}: expected a key '{key}' holding the {what}, found keys: {available}; "
            "name the key with --key / --labels-key"
        )
    return mapping[key]


def _read_mapping(path: Path) -> dict[str, Any]:
    """Every named array of a .npz / .pt / .safetensors / .h5 file (lazy where possible)."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    if suffix in (".pt", ".pth"):
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, torch.Tensor):
            return {"embeddings": _tensor_to_numpy(obj)}
        if isinstance(obj, dict):
            return {
                str(k): _tensor_to_numpy(v) for k, v in obj.items() if isinstance(v, torch.Tensor)
            }
        raise InputError(
            f"{path}: expected a tensor or a dict of tensors, found {type(obj).__name__}"
        )
    if suffix == ".safetensors":
        try:
            from safetensors import safe_open
        except ImportError as exc:
            raise _missing("formats", "safetensors") from exc
        out = {}
        with safe_open(str(path), framework="pt") as f:
            for k in f.keys():
                t = f.get_tensor(k)
                out[k] = t.float().numpy() if t.is_floating_point() else t.numpy()
        return out
    if suffix in (".h5", ".hdf5"):
        try:
            import h5py
        except ImportError as exc:
            raise _missing("formats", "h5py") from exc
        f = h5py.File(path, "r")
        return {k: f[k] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    raise InputError(f"{path}: unsupported suffix '{suffix}'")


def _read_parquet(path: Path, column: str | None, label_column: str | None) -> dict[str, Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise _missing("formats", "pyarrow") from exc
    table = pq.read_table(path)
    names = table.column_names
    out: dict[str, Any] = {}
    emb_col = column or ("embeddings" if "embeddings" in names else "embedding")
    if emb_col not in names:
        raise InputError(
            f"{path}: expected an embedding list column '{emb_col}', found columns: "
            f"{', '.join(names)}; name it with --key"
        )
    col = table.column(emb_col).combine_chunks()
    n = len(col)
    if col.null_count:
        raise InputError(
            f"{path}: column '{emb_col}' holds {col.null_count} empty (null) row(s); expected "
            "one embedding list per row"
        )
    if not hasattr(col, "flatten"):
        raise InputError(
            f"{path}: expected column '{emb_col}' to hold lists of numbers, received type "
            f"{col.type}"
        )
    if hasattr(col, "value_lengths"):  # variable-size lists: every row must be as long
        lengths = np.asarray(col.value_lengths().to_numpy(zero_copy_only=False))
        if n and lengths.min() != lengths.max():
            bad = int(np.nonzero(lengths != lengths[0])[0][0])
            raise InputError(
                f"{path}: column '{emb_col}' holds lists of unequal length (row 0 has "
                f"{int(lengths[0])} values, row {bad} has {int(lengths[bad])}); every embedding "
                "must have the same width"
            )
    flat = col.flatten().to_numpy(zero_copy_only=False)
    if n and flat.size % n:
        raise InputError(f"{path}: column '{emb_col}' holds lists of unequal length")
    out["embeddings"] = flat.reshape(n, -1 if n else 0).astype(np.float32, copy=False)
    lab = label_column or "labels"
    if lab in names:
        out["labels"] = table.column(lab).to_numpy(zero_copy_only=False)
    elif label_column:
        raise InputError(f"{path}: expected a label column '{lab}', found: {', '.join(names)}")
    return out


def open_embeddings(
    path: str | Path, key: str = "embeddings", label_key: str = "labels"
) -> ArraySource:
    """Open an embedding file; labels stored in the same file are kept in ``extras``."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in EMBEDDING_SUFFIXES:
        raise InputError(
            f"{p}: expected one of {', '.join(EMBEDDING_SUFFIXES)}, received '{suffix or p.name}'"
        )
    try:
        if suffix == ".npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            _check_2d(arr, p, "embeddings")
            return ArraySource(p, arr)
        if suffix == ".safetensors":
            rows = SafetensorsRows(p, key)
            _check_2d(rows, p, "embeddings")
            extras = {k: rows.tensor(k) for k in rows.keys if k == label_key}
            return ArraySource(p, rows, extras)
        if suffix == ".parquet":
            mapping = _read_parquet(
                p,
                None if key == "embeddings" else key,
                None if label_key == "labels" else label_key,
            )
            arr = mapping.pop("embeddings")
        else:
            mapping = _read_mapping(p)
            if suffix in (".pt", ".pth") and key not in mapping and len(mapping) == 1:
                key = next(iter(mapping))
            arr = _pick(mapping, key, p, "embeddings")
        _check_2d(arr, p, "embeddings")
        extras = {k: v for k, v in mapping.items() if k != key}
        return ArraySource(p, arr, extras)
    except InputError:
        raise
    except Exception as exc:  # corrupt or foreign file: one readable line
        raise InputError(f"{p}: {unreadable(exc, suffix)}") from exc


def unreadable(exc: Exception, suffix: str, what: str = "") -> str:
    """Why a file could not be read, in words: numpy reports a file without a .npy header as
    "pickled data" (it would have to unpickle it), which says nothing to someone who saved
    text or another format under a .npy name.

    Example:
        >>> why = ValueError("Cannot load file containing pickled data when allow_pickle=False")
        >>> unreadable(why, ".npy").split(" (")[0]
        'not a NumPy .npy file'
    """
    if suffix == ".npy" and "pickled" in str(exc):
        return (
            "not a NumPy .npy file (no .npy header: text, another format, or pickled Python "
            "objects, which are never loaded); save the array with numpy.save"
        )
    return f"cannot read {what + ' ' if what else ''}as {suffix} ({type(exc).__name__}: {exc})"


def read_labels(
    path: str | Path | None, n: int, source: ArraySource | None = None, key: str = "labels"
) -> tuple[np.ndarray | None, list[str] | None]:
    """Integer labels (0..K-1) and, for non-integer labels, the class names in order.

    From ``path`` if given, else from the embedding file's own ``labels`` entry, else None.
    """
    if path is not None:
        raw = _read_label_file(Path(path), key)
        where = str(Path(path))
    elif source is not None and key in source.extras:
        raw = np.asarray(source.extras[key])
        where = f"{source.path}[{key}]"
    else:
        return None, None
    raw = _checked_label_vector(np.asarray(raw), n, where)
    if raw.dtype.kind in "iu" and (raw.size == 0 or raw.min() >= 0):
        return raw.astype(np.int64), None
    if (
        raw.dtype.kind == "f"
        and np.all(np.isfinite(raw))
        and np.all(raw == np.round(raw))
        and (raw.size == 0 or raw.min() >= 0)
    ):
        return raw.astype(np.int64), None
    names, codes = np.unique(raw.astype(str), return_inverse=True)
    return codes.astype(np.int64), [str(x) for x in names]


def _read_label_file(p: Path, key: str) -> Any:
    """The raw labels stored in file ``p`` (by its suffix; ``key`` names the entry or column)."""
    if not p.exists():
        raise InputError(f"{p}: no such file (labels)")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".txt":
            return _read_text_labels(p)
        if suffix == ".csv":
            return np.loadtxt(p, dtype=str, delimiter=",", ndmin=1)
        if suffix == ".parquet":
            return _read_parquet_labels(p, key)
        if suffix in LABEL_SUFFIXES:
            mapping = _read_mapping(p)
            if key not in mapping and len(mapping) == 1:
                key = next(iter(mapping))
            return np.asarray(_pick(mapping, key, p, "labels"))
        raise InputError(f"{p}: expected labels as {', '.join(LABEL_SUFFIXES)}")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{p}: {unreadable(exc, suffix, 'labels')}") from exc


def _checked_label_vector(raw: np.ndarray, n: int, where: str) -> np.ndarray:
    """``raw`` as a 1-D vector of ``n`` labels, none missing, NaN or a non-integer float;
    InputError naming ``where`` otherwise."""
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1:
        raise InputError(f"{where}: expected a 1-D label vector, received shape {raw.shape}")
    if raw.shape[0] != n:
        raise InputError(
            f"{where}: expected {n} labels (one per embedding row), received {raw.shape[0]}"
        )
    if raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
        bad = np.nonzero(~np.isfinite(raw))[0]
        raise InputError(
            f"{where}: expected a label for every row, received {bad.size} NaN/Inf label(s) "
            f"(first at row {int(bad[0])}); drop those rows or give them a class"
        )
    if raw.dtype.kind == "f" and not np.all(raw == np.round(raw)):
        bad = np.nonzero(raw != np.round(raw))[0]
        raise InputError(
            f"{where}: expected integer class labels, received {bad.size} non-integer float "
            f"label(s) (first {raw[bad[0]]!r} at row {int(bad[0])}); pass class indices "
            "(e.g. labels.astype(int)) or class names"
        )
    if raw.dtype.kind == "O" and any(v is None for v in raw):
        missing = [i for i, v in enumerate(raw) if v is None]
        raise InputError(
            f"{where}: expected a label for every row, received {len(missing)} missing (null) "
            f"label(s) (first at row {missing[0]}); drop those rows or give them a class"
        )
    if raw.dtype.kind == "O" and any(isinstance(v, float) and not np.isfinite(v) for v in raw):
        raise InputError(f"{where}: expected a label for every row, received NaN label(s)")
    return raw


def _read_text_labels(path: Path) -> np.ndarray:
    """One label per line (spaces inside a label are kept); trailing blank lines ignored."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    empty = [i + 1 for i, line in enumerate(lines) if not line]
    if empty:
        raise InputError(
            f"{path}: expected one label per line, received {len(empty)} empty line(s) "
            f"(first at line {empty[0]})"
        )
    return np.asarray(lines, dtype=str)


def _read_parquet_labels(path: Path, column: str) -> np.ndarray:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise _missing("formats", "pyarrow") from exc
    table = pq.read_table(path)
    if column not in table.column_names:
        raise InputError(
            f"{path}: expected a label column '{column}', found: {', '.join(table.column_names)}"
        )
    return np.asarray(table.column(column).to_numpy(zero_copy_only=False))


def load_matrix(path: str | Path, key: str = "embeddings") -> np.ndarray:
    """A whole (small) matrix: classifier weights, a reference embedding set."""
    src = open_embeddings(path, key)
    return np.asarray(src.array[:])
