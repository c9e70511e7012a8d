r"""The settings of an unweighting run: one object, validated, passed from stage to stage.

:class:`UnweightSettings` holds every option of :func:`~flowstats.unweighting.core.unweight`
(same names and defaults; the input files are ``input``, as in the bump hunt's configuration)
plus ``mode`` and an analysis's acceptance ``criteria``. It is built from keyword arguments, a
mapping or a YAML file and validated against ``flowstats/schema/unweight.schema.json`` with
:mod:`flowstats.config`: an unknown key is a :class:`~flowstats.exceptions.ConfigError` that
names it and the closest valid key, a bad value one that names the key; missing or
inconsistent arguments are :class:`~flowstats.exceptions.BadInputError`\ s with the messages
``unweight()`` always gave.

Example::

    settings = UnweightSettings.from_yaml("analyses/unweight_fxfx.yaml", {"n": 1000})
    run_unweight(settings.replace(output="out.root"))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import check_keys, load_yaml, validate
from ..exceptions import BadInputError

__all__ = ["MODES", "SCHEMA", "UnweightSettings"]

#: the schema, ``flowstats/schema/unweight.schema.json``
SCHEMA = "unweight"
#: what the flow learns: flat branches, or whole events (not implemented yet)
MODES = ("features", "events")
#: options naming files that are read: relative to the YAML file that gives them
READ_PATHS = ("input", "model")
#: options that may be one comma-separated string instead of a list
NAME_LISTS = ("features", "positive", "discrete", "split_on")


@dataclass(frozen=True)
class UnweightSettings:
    r"""Every option of an unweighting run (see :func:`~flowstats.unweighting.core.unweight`
    for their meaning, ``flowstats/schema/unweight.schema.json`` for their types and ranges).

    Build it with :meth:`from_mapping` or :meth:`from_yaml` (both validate) and change it with
    :meth:`replace` (validates again); direct construction checks nothing.

    Arguments:
        mode: ``"features"`` (flat branches), ``"events"`` (whole events, :mod:`.whole`) or
            ``"auto"`` (features when ``features`` are given, else events; :attr:`resolved_mode`).
        input: ROOT or LHE files (or glob patterns).
        features, weight, n, output: As in ``unweight()``; required (features in mode
            ``"features"``, none in mode ``"events"``).
        lhe, sqrt_s: Mode ``"events"``: a Les Houches output file; the collision energy.
        criteria: An analysis's acceptance criteria (``min_p_value``, ``max_auc``), not used
            by the unweighting itself.
    """

    mode: str = "auto"
    input: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    weight: str | None = None
    n: int | None = None
    output: str | None = None
    lhe: str | None = None
    sqrt_s: float | None = None
    tree: str = "events"
    cut: str | None = None
    model: str | None = None
    model_out: str | None = None
    report: str | None = None
    kind: str = "nsf"
    base: str = "normal"
    nu: float = 1.0
    transforms: int = 4
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    bins: int = 8
    positive: list[str] | str | None = "auto"
    discrete: list[str] | str | None = "auto"
    bounds: dict[str, list[float]] | None = None
    epochs: int = 40
    batch_size: int = 2048
    lr: float = 2e-3
    patience: int = 40
    test_fraction: float = 0.25
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    atom_fraction: float = 0.02
    marginal_maps: bool = True
    split_on: list[str] = field(default_factory=list)
    members: int = 1
    report_bins: int = 30
    folds: int = 5
    plots: bool = True
    force: bool = False
    criteria: dict[str, float] | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str = "configuration",
                     overrides: Mapping[str, Any] | None = None) -> UnweightSettings:
        r"""Validated settings from a mapping of options (missing ones take their defaults).

        Python values are accepted where JSON ones are meant (tuples, paths, numpy scalars,
        comma-separated names). Checks, in this order: unknown keys (ConfigError naming the
        key and the closest valid one), the arguments ``unweight()`` always checked
        (BadInputError, same messages), then every value against the schema (ConfigError
        naming the key).

        Arguments:
            mapping: The options.
            source: Where they came from (a file name, ``"unweight()"``), for the messages.
            overrides: Options replacing those of ``mapping``; None values mean "not given".
        """
        from ..exceptions import ConfigError

        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{source}: expected a mapping of options, got "
                              f"{type(mapping).__name__}")
        data = _merge(mapping, overrides)
        check_keys(data, source, schema_name=SCHEMA)
        data = {key: _normalise(key, value) for key, value in data.items()}
        _check_arguments(data)
        validate(data, source, schema_name=SCHEMA)
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Mapping[str, Any] | None = None
                  ) -> UnweightSettings:
        r"""Validated settings from a YAML file; ``input`` and ``model`` are relative to the
        file's directory, the outputs to the working directory.

        Arguments:
            path: The YAML file (validated as written, then with ``overrides``).
            overrides: Options replacing the file's (e.g. from the command line, relative to
                the working directory); None values mean "not given".
        """
        path = Path(path)
        data = load_yaml(path, SCHEMA)
        here = path.absolute().parent
        for key in READ_PATHS:
            if data.get(key) is not None:
                data[key] = _relative_to(data[key], here)
        return cls.from_mapping(data, str(path), overrides)

    @property
    def resolved_mode(self) -> str:
        r"""``"features"`` or ``"events"`` (mode ``"auto"``: features when any are given)."""
        if self.mode != "auto":
            return self.mode
        return "features" if self.features else "events"

    def to_dict(self) -> dict[str, Any]:
        r"""The settings as a JSON-serialisable mapping (:meth:`from_mapping` reads it back);
        recorded in the outputs' provenance."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> UnweightSettings:
        r"""A validated copy with ``changes`` applied.

        Arguments:
            changes: Options to change.
        """
        return type(self).from_mapping(self.to_dict(), "settings", changes)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        r"""Every option's default (None for the required ``weight``, ``n``, ``output``)."""
        return cls().to_dict()


def _merge(mapping: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    data = dict(mapping)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return data


def _relative_to(value: str | list[str], here: Path) -> str | list[str]:
    if isinstance(value, list):
        return [_relative_to(v, here) for v in value]
    if not isinstance(value, str):
        return value
    return os.path.normpath(here / os.path.expanduser(value))


def _plain(value: Any) -> Any:
    r"""Python values as JSON values: paths -> str, tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _normalise(key: str, value: Any) -> Any:
    value = _plain(value)
    if key == "input" and isinstance(value, str):
        return [value]
    if key in NAME_LISTS and isinstance(value, str) and value != "auto":
        return [v.strip() for v in value.split(",") if v.strip()]
    if key in NAME_LISTS and isinstance(value, list):
        return [str(v) if isinstance(v, (int, float)) else v for v in value]
    if key in ("kind", "device") and isinstance(value, str):
        return value.lower()
    return value


def _check_arguments(data: Mapping[str, Any]) -> None:
    r"""The checks ``unweight()`` always made, with its messages (values of a wrong type are
    left to the schema)."""
    n = data.get("n")
    if n is None:
        raise BadInputError("no number of events to generate given (-n N, or 'n' in the "
                            "configuration)")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise BadInputError(f"the number of events to generate must be a positive integer, "
                            f"got N = {n}")
    features = data.get("features") or []
    mode = data.get("mode", "auto")
    if mode == "features" and not features:
        raise BadInputError("no features given (e.g. --features m_ll,pT_ll)")
    if mode == "events" and features:
        raise BadInputError(f"mode 'events' learns whole events, not the features {features}: "
                            "drop --features, or use mode 'features'")
    if data.get("lhe") and (mode == "features" or (mode == "auto" and features)):
        raise BadInputError("a Les Houches output (--lhe) needs whole events: mode 'events' "
                            "(no --features)")
    weight = data.get("weight")
    if not weight:
        raise BadInputError("no weight branch given: unweighting needs the event weights "
                            "(--weight)")
    if isinstance(features, list) and weight in features:
        raise BadInputError(f"the weight branch {weight!r} is also listed as a feature")
    for what in ("test_fraction", "val_fraction"):
        frac = data.get(what, 0.5)
        if _number(frac) and not 0 < frac < 1:
            raise BadInputError(f"{what} must be in (0, 1), got {frac}")
    epochs = data.get("epochs", 1)
    if _number(epochs) and epochs < 1:
        raise BadInputError(f"epochs must be >= 1, got {epochs}")
    if not data.get("input"):
        raise BadInputError("no input files given (INPUTS, or 'input' in the configuration)")
    if not data.get("output"):
        raise BadInputError("no output file given (-o OUT.root, or 'output' in the "
                            "configuration)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
