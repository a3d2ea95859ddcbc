"""The small matrices the command reads whole: the classifier weights (``--weights``, an entry
of a checkpoint named with ``--weights-key``), their bias (``--bias``) and the
out-of-distribution rows (``--ood``). Each is checked against the embeddings' width, and every
error names the option to change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from collapsekit.io.readers import InputError, _read_mapping, open_embeddings, unreadable

#: files holding named arrays (a state_dict, an .npz archive, ...)
MAPPING_SUFFIXES = (".npz", ".pt", ".pth", ".safetensors", ".h5", ".hdf5")


def describe_matrices(mapping: dict[str, Any], most: int = 8) -> str:
    """The 2-D entries of a file with their shapes, for an error message.

    Example:
        >>> describe_matrices({"fc.weight": np.zeros((3, 8)), "fc.bias": np.zeros(3)})
        'fc.weight (3 x 8)'
    """
    found = [
        f"{name} ({' x '.join(str(n) for n in shape)})"
        for name, value in mapping.items()
        if len(shape := tuple(getattr(value, "shape", ()))) == 2
    ]
    more = f", and {len(found) - most} more" if len(found) > most else ""
    return ", ".join(found[:most]) + more if found else "none"


def _entries(path: Path, option: str) -> dict[str, Any]:
    """Every named array of ``path``; a corrupt or foreign file becomes one readable line."""
    try:
        return _read_mapping(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{option} {path}: {unreadable(exc, path.suffix.lower())}") from exc


def _pick_entry(
    path: Path, option: str, key: str | None, default: str, key_option: str
) -> tuple[Any, str]:
    """The entry named ``key`` (which must exist), else ``default``, else the file's only
    entry; returns it with the name to quote in messages."""
    mapping = _entries(path, option)
    if key is not None:
        if key not in mapping:
            raise InputError(
                f"{key_option}: expected an entry of {path.name}, received {key!r}; its 2-D "
                f"entries: {describe_matrices(mapping)}"
            )
        return mapping[key], f"{path.name}[{key}]"
    if default in mapping:
        return mapping[default], f"{path.name}[{default}]"
    if len(mapping) == 1:
        name = next(iter(mapping))
        return mapping[name], f"{path.name}[{name}]"
    raise InputError(
        f"{option} {path.name}: expected a single array or an entry named {default!r}, found "
        f"{len(mapping)} entries; name the entry with {key_option} (2-D entries: "
        f"{describe_matrices(mapping)})"
    )


def read_matrix(
    path: Path, option: str, key: str | None, default: str, key_option: str
) -> tuple[np.ndarray, str]:
    """A whole 2-D numeric matrix from ``path`` (.npy, an entry of a mapping file, a parquet
    list column) and the name to quote for it (``file[entry]``)."""
    if not path.exists():
        raise InputError(f"{option}: {path}: no such file")
    suffix = path.suffix.lower()
    where = path.name
    if suffix == ".npy":
        try:
            raw: Any = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"{option} {path}: {unreadable(exc, '.npy')}") from exc
    elif suffix in MAPPING_SUFFIXES:
        raw, where = _pick_entry(path, option, key, default, key_option)
    else:  # .parquet, or an unsupported suffix (the reader says which are supported)
        raw = open_embeddings(path, key or default).array
    matrix = np.asarray(raw)  # an h5 dataset is read here
    if matrix.ndim != 2:
        raise InputError(f"{option} {where}: expected a 2-D matrix, received shape {matrix.shape}")
    if matrix.dtype.kind not in "fiu":
        raise InputError(f"{option} {where}: expected numbers, received dtype {matrix.dtype}")
    return matrix, where


def check_weights_width(shape: tuple[int, ...], dim: int, where: str) -> None:
    """Raise unless a classifier matrix of ``shape`` is K x D with D = ``dim`` (the
    embeddings' width); a D x K matrix (a Keras or JAX kernel, ``W.T`` of torch's
    ``nn.Linear.weight``) gets a hint to transpose.

    Example:
        >>> check_weights_width((3, 8), 8, "W.npy")
        >>> check_weights_width((8, 3), 8, "W.npy")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --weights W.npy: expected K x D with D = 8 columns ...
    """
    if shape[1] == dim:
        return
    expected = (
        f"--weights {where}: expected K x D with D = {dim} columns (one row per class, as wide "
        f"as the embeddings), received shape {shape[0]} x {shape[1]}"
    )
    if shape[0] == dim:
        raise ValueError(
            f"{expected}: it looks transposed (D x K, as Keras and JAX store a kernel); save "
            "its transpose (np.save('W.npy', W.T)) and pass that"
        )
    raise ValueError(
        f"{expected}: neither side is {dim}, so these weights belong to another layer or model "
        "(the classifier that reads these embeddings; a D x K matrix also needs transposing)"
    )


def load_weights(path: Path, key: str | None, dim: int) -> np.ndarray:
    """The K x D classifier matrix of ``--weights`` (``--weights-key`` names the entry of a
    checkpoint; without it: an entry named 'weights' or the file's only one), with D = ``dim``
    columns."""
    matrix, where = read_matrix(path, "--weights", key, "weights", "--weights-key")
    check_weights_width(matrix.shape, dim, where)
    return matrix


def load_ood(path: Path, key: str, dim: int, labelled: bool) -> np.ndarray:
    """The M x D out-of-distribution rows of ``--ood`` (the entry named like the embeddings'
    ``--key``, or the file's only one): NC5 and NECO compare them with the class means, so
    they need labels and the embeddings' width ``dim``."""
    if not labelled:
        raise ValueError(
            "--ood: expected labels, received none; NC5 and NECO compare the OoD rows with the "
            "class means: pass --labels (or a 'labels' entry in the embeddings file)"
        )
    explicit = None if key == "embeddings" else key
    matrix, where = read_matrix(path, "--ood", explicit, "embeddings", "--key")
    if matrix.shape[1] != dim:
        hint = "; it looks transposed: save its transpose" if matrix.shape[0] == dim else ""
        raise ValueError(
            f"--ood {where}: expected {dim} columns (out-of-distribution inputs through the "
            f"same layer as the embeddings), received shape {matrix.shape[0]} x "
            f"{matrix.shape[1]}{hint}"
        )
    return matrix


def _bias_entry(path: Path) -> Any:
    """The file's only array, or its entry named 'bias'."""
    mapping = _entries(path, "--bias")
    if len(mapping) == 1:
        return next(iter(mapping.values()))
    if "bias" in mapping:
        return mapping["bias"]
    raise InputError(
        f"--bias {path.name}: expected a single array or an entry named 'bias', found entries: "
        f"{', '.join(sorted(mapping)) or 'none'}; save the bias alone (e.g. as .npy)"
    )


def load_bias(bias: str | None, weights: Path | None) -> np.ndarray | None:
    """A bias vector from its own file, or from an entry of the weights file."""
    if bias is None:
        return None
    candidate = Path(bias)
    if candidate.exists():
        suffix = candidate.suffix.lower()
        if suffix == ".npy":
            vec = np.load(candidate, allow_pickle=False)
        elif suffix in (".txt", ".csv"):
            vec = np.loadtxt(candidate, delimiter="," if suffix == ".csv" else None, ndmin=1)
        else:
            vec = _bias_entry(candidate)
    elif weights is not None and weights.suffix.lower() in MAPPING_SUFFIXES:
        mapping = _entries(weights, "--weights")
        if bias not in mapping:
            raise InputError(
                f"--bias: expected a file or an entry of {weights.name}, received {bias!r}; "
                f"its entries: {', '.join(sorted(mapping)) or 'none'}"
            )
        vec = mapping[bias]
    else:
        raise ValueError(
            f"--bias: expected a file or an entry of the --weights file, received {bias!r} "
            "(no such file)"
        )
    vec = np.asarray(vec, dtype=np.float64)
    if vec.ndim != 1:
        raise ValueError(f"--bias: expected a 1-D vector, received shape {vec.shape}")
    return vec


__all__ = ["check_weights_width", "describe_matrices", "load_bias", "load_ood", "load_weights"]
