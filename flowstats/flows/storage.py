r"""Saving and loading flows and ensembles as directories.

A :class:`~flowstats.flows.Flow` directory holds ``weights.pt`` (``torch.save`` of the zuko
module's state dict, read back with ``weights_only=True``) and ``config.json`` (architecture,
preprocessing parameters, feature and context names, flowstats version, seed, training history
and provenance). An :class:`~flowstats.flows.Ensemble` directory holds ``config.json`` (member
weights) and one Flow directory per member, ``member_0``, ``member_1``, ...

Directories are written into a temporary sibling and renamed into place, so that an interrupted
save never leaves a half-written model.

This module knows the files, not the classes: :meth:`flowstats.flows.Flow.save`,
:meth:`flowstats.flows.Flow.load`, :meth:`flowstats.flows.Ensemble.save`,
:meth:`flowstats.flows.Ensemble.load` and :func:`flowstats.flows.load` build on it (it imports
neither, so there is no import cycle).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._utils import atomic_dir, provenance, write_json
from ..exceptions import IncompatibleModelError, InputFileNotFoundError

log = logging.getLogger(__name__)

__all__ = ["CONFIG", "WEIGHTS", "atomic_dir", "check_names", "read_config", "read_state",
           "write_model"]

CONFIG, WEIGHTS = "config.json", "weights.pt"


def write_model(directory: Path, config: dict[str, Any], state: dict[str, Any],
                seed: int) -> None:
    r"""Writes one flow's ``weights.pt`` (its state dict) and ``config.json`` into
    ``directory`` (created if needed), with the provenance of ``seed`` in the config.

    Arguments:
        directory: The (temporary) model directory.
        config: The flow's configuration (``Flow.config()``).
        state: The zuko module's state dict.
        seed: The flow's seed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in state.items()}, directory / WEIGHTS)
    config = dict(config)
    config["provenance"] = provenance(seed, {k: config[k] for k in
                                             ("features", "context", "options")})
    write_json(directory / CONFIG, config)


def read_config(directory: Path) -> dict[str, Any]:
    r"""The checked ``config.json`` of a Flow or Ensemble directory.

    Raises :class:`~flowstats.exceptions.IncompatibleModelError` for a directory without a
    config, invalid JSON, another flowstats major.minor version or an unknown model type.
    """
    if not directory.is_dir():
        raise InputFileNotFoundError(str(directory), "not a model directory"
                                     if directory.exists() else None)
    path = directory / CONFIG
    if not path.is_file():
        raise IncompatibleModelError(f"{str(directory)!r} is not a flowstats model directory "
                                     f"(no {CONFIG})")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise IncompatibleModelError(f"{str(path)!r} is not valid JSON: {err}") from None
    version = str(config.get("flowstats", "?"))
    if version.split(".")[:2] != __version__.split(".")[:2]:
        raise IncompatibleModelError(f"{str(directory)!r} was written by flowstats {version}; "
                                     f"this is {__version__} (major.minor must match)")
    if config.get("type") not in ("Flow", "Ensemble"):
        raise IncompatibleModelError(f"{str(path)!r}: unknown model type "
                                     f"{config.get('type')!r}")
    return config


def check_names(config: dict[str, Any], key: str, expected: Sequence[str] | None,
                where: Path) -> None:
    r"""Raises when the caller ``expected`` other ``features``/``context`` than saved."""
    if expected is not None and list(expected) != list(config[key]):
        raise IncompatibleModelError(f"{str(where)!r} models {key} {config[key]}, but "
                                     f"{list(expected)} were asked for")


def read_state(directory: Path) -> dict[str, Any]:
    r"""The state dict in ``weights.pt`` (``weights_only``), with one-line errors."""
    try:
        return torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise IncompatibleModelError(f"{str(directory)!r} has no {WEIGHTS}") from None
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IncompatibleModelError(f"cannot load {str(directory)!r}: {first}") from None
