r"""Small helpers shared by every stage: atomic outputs, provenance, progress bars, devices.

Nothing here knows about physics; each helper does one thing.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _threads
from .exceptions import BadInputError, NonFiniteError, OutputExistsError

log = logging.getLogger(__name__)

__all__ = [
    "atomic_dir",
    "atomic_path",
    "parse_range",
    "check_finite",
    "check_output",
    "progress",
    "provenance",
    "resolve_device",
    "write_json",
]


def check_output(path: str | os.PathLike, force: bool = False) -> Path:
    r"""Refuses to go on when ``path`` exists and ``force`` is false.

    Call it before any work starts, so that nothing is computed for an output that will not
    be written.

    Arguments:
        path: The output file or directory.
        force: Whether an existing output may be replaced.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(str(path))
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    r"""Yields a temporary path next to ``path``; renames it to ``path`` on success.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and is
    removed when the block raises or the process is interrupted: a killed write never leaves a
    half-written file at the target path.

    Arguments:
        path: The final output path.
        force: Whether an existing ``path`` may be replaced.
    """
    path = Path(path)
    check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        if path.exists() and not force:  # created by someone else meanwhile
            raise OutputExistsError(str(path))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    r"""Yields a temporary directory next to ``path``; moves it to ``path`` on success.

    The directory counterpart of ``atomic_path()`` (saved models): an interrupted write
    never leaves a half-written directory at ``path``.

    Arguments:
        path: The final directory.
        force: Whether an existing ``path`` may be replaced.
    """
    path = Path(path)
    check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = None
    try:
        yield tmp
        check_output(path, force)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def write_json(path: str | os.PathLike, data: Mapping[str, Any], force: bool = True) -> Path:
    r"""Writes ``data`` as indented JSON to ``path`` atomically (numpy values allowed)."""
    path = Path(path)
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")
    return path


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def provenance(seed: int | None = None, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    r"""Returns what is needed to reproduce an output: versions, seed, configuration.

    Arguments:
        seed: The seed of the random steps.
        config: The resolved configuration.
    """
    from . import __version__

    packages = [
        "numpy", "scipy", "torch", "zuko", "uproot", "awkward", "pyhf", "iminuit",
        "boost-histogram", "hist", "scikit-learn", "pylhe", "dask", "distributed",
    ]
    return {
        "flowstats": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {p: _version(p) for p in packages},
        "seed": seed,
        "config": dict(config) if config is not None else None,
        "argv": list(sys.argv),
        "threads": _threads.summary(),
    }


def progress(iterable: Any = None, *, total: int | None = None, desc: str | None = None,
             enabled: bool | None = None, **kwargs: Any) -> Any:
    r"""A tqdm progress bar on stderr, shown only when stderr is a terminal.

    Arguments:
        iterable: What to iterate over.
        total: The number of steps, when ``iterable`` has no length.
        desc: A short label.
        enabled: Force the bar on (True) or off (False); None shows it only on a TTY.
    """
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("FLOWSTATS_NO_PROGRESS")
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=not enabled,
                leave=False, dynamic_ncols=True, **kwargs)


def resolve_device(device: str = "auto") -> str:
    r"""Turns ``auto|cpu|cuda[:N]`` into a torch device string.

    ``auto`` picks CUDA when torch sees a GPU, else the CPU.
    """
    import torch

    device = str(device).lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInputError(f"device {device!r} asked for, but torch sees no CUDA GPU; "
                                "use --device cpu or auto")
        return device
    if device == "cpu":
        return device
    raise BadInputError(f"unknown device {device!r}; use auto, cpu or cuda")


def check_finite(array: np.ndarray, what: str, names: list[str] | None = None) -> None:
    r"""Raises :class:`NonFiniteError` counting NaN/inf entries of ``array`` (per column).

    Arguments:
        array: 1-D or 2-D array.
        what: What the array is, for the message ("features", "weights", ...).
        names: Column names of a 2-D array.
    """
    array = np.asarray(array)
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    if array.ndim == 2 and names is not None:
        counts = bad.sum(axis=0)
        parts = [f"{n}: {int(c)}" for n, c in zip(names, counts) if c]
        detail = " (" + ", ".join(parts) + ")"
        nrows = int(bad.any(axis=1).sum())
    else:
        detail = ""
        nrows = int(bad.reshape(len(array), -1).any(axis=1).sum()) if array.ndim else 1
    raise NonFiniteError(f"{nrows} events have NaN or infinite {what}{detail}")


def parse_range(text: str | Any, what: str = "range") -> tuple[float, float]:
    r"""Parses ``"LO:HI"`` (or a pair of numbers) into floats with ``LO < HI``.

    Arguments:
        text: ``"3300:3700"`` or ``(3300, 3700)``.
        what: What the range is, for the message ("signal region", "--scan", ...).
    """
    if isinstance(text, str):
        parts = text.replace(",", ":").split(":")
        if len(parts) != 2:
            raise BadInputError(f"{what} {text!r} is not of the form LO:HI (e.g. 3300:3700)")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise BadInputError(f"{what} {text!r}: LO and HI must be numbers") from None
    else:
        try:
            lo, hi = (float(v) for v in text)
        except (TypeError, ValueError):
            raise BadInputError(f"{what} {text!r} is not a pair (LO, HI)") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        raise BadInputError(f"{what} [{lo:g}, {hi:g}] is empty: LO must be below HI (finite LO < HI)")
    return lo, hi
