r"""Saving and loading flows and ensembles as directories.

A :class:`~flowstats.flows.Flow` directory holds ``weights.pt`` (``torch.save`` of the zuko
module's state dict, read back with ``weights_only=True``) and ``config.json`` (architecture,
preprocessing parameters, feature and context names, flowstats version, seed, training history
and provenance). An :class:`~flowstats.flows.Ensemble` directory holds ``config.json`` (member
weights) and one Flow directory per member, ``member_0``, ``member_1``, ...

Directories are written into a temporary sibling and renamed into place, so that an interrupted
save never leaves a half-written model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import __version__
from .._utils import atomic_dir, provenance, write_json
from ..exceptions import IncompatibleModelError, InputFileNotFoundError

if TYPE_CHECKING:
    from .ensemble import Ensemble
    from .flow import Flow

log = logging.getLogger(__name__)

__all__ = ["atomic_dir", "load", "load_flow", "save_flow"]

CONFIG, WEIGHTS = "config.json", "weights.pt"


def _write_flow(flow: Flow, directory: Path) -> None:
    flow._require_fitted()
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in flow.module.state_dict().items()}
    torch.save(state, directory / WEIGHTS)
    config = flow.config()
    config["provenance"] = provenance(flow.seed, {k: config[k] for k in
                                                  ("features", "context", "options")})
    write_json(directory / CONFIG, config)


def save_flow(flow: Flow, directory: str | os.PathLike, force: bool = False) -> Path:
    r"""Writes ``flow`` to ``directory`` (see the module docstring).

    Arguments:
        flow: A trained flow.
        directory: The output directory.
        force: Replace an existing directory.
    """
    flow._require_fitted()
    with atomic_dir(directory, force) as tmp:
        _write_flow(flow, tmp)
    return Path(directory)


def _read_config(directory: Path) -> dict[str, Any]:
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


def _check_names(config: dict[str, Any], key: str, expected: Sequence[str] | None,
                 where: Path) -> None:
    if expected is not None and list(expected) != list(config[key]):
        raise IncompatibleModelError(f"{str(where)!r} models {key} {config[key]}, but "
                                     f"{list(expected)} were asked for")


def load_flow(directory: str | os.PathLike, *, features: Sequence[str] | None = None,
              context: Sequence[str] | None = None, device: str = "cpu") -> Flow:
    r"""Reads a :class:`Flow` written by :func:`save_flow`.

    Arguments:
        directory: The model directory.
        features: If given, the features the caller expects (a mismatch is an error).
        context: If given, the context features the caller expects.
        device: Where to put the model.
    """
    from .flow import Flow

    directory = Path(directory)
    config = _read_config(directory)
    if config["type"] != "Flow":
        raise IncompatibleModelError(f"{str(directory)!r} holds an {config['type']}; "
                                     "use flowstats.flows.load()")
    _check_names(config, "features", features, directory)
    _check_names(config, "context", context, directory)
    try:
        state = torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True)
        return Flow._from_config(config, state, device=device)
    except FileNotFoundError:
        raise IncompatibleModelError(f"{str(directory)!r} has no {WEIGHTS}") from None
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise IncompatibleModelError(f"cannot load {str(directory)!r}: {first}") from None


def load(directory: str | os.PathLike, *, features: Sequence[str] | None = None,
         context: Sequence[str] | None = None, device: str = "cpu") -> Flow | Ensemble:
    r"""Loads a :class:`Flow` or an :class:`Ensemble` directory.

    Arguments:
        directory: The model directory.
        features: If given, the features the caller expects (a mismatch is an error).
        context: If given, the context features the caller expects.
        device: Where to put the model(s).
    """
    directory = Path(directory)
    config = _read_config(directory)
    if config["type"] == "Flow":
        return load_flow(directory, features=features, context=context, device=device)
    from .ensemble import Ensemble

    return Ensemble.load(directory, features=features, context=context, device=device)
