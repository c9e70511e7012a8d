r"""The settings of an unweighting run: one typed model, validated once, passed from stage to stage.

:class:`UnweightSettings` holds every option of :func:`~flowstats.unweighting.job.unweight`
and ``flowstats unweight`` (the input files are ``input``, as in the bump hunt's
configuration) plus an analysis's acceptance ``criteria``: each field's type, default, range
and one-line description are written here and nowhere else. The shipped
``flowstats/schema/unweight.schema.json`` is generated from it (:func:`write_schema`), and so
are the command-line options. An unknown key, nested ones included, is a
:class:`~flowstats.exceptions.ConfigError` that names it and the closest valid key, a bad
value one that names the key; missing or inconsistent arguments are
:class:`~flowstats.exceptions.BadInputError`\ s.

Mode ``"features"`` learns flat branches, mode ``"events"`` whole events (:mod:`.whole`).

Example::

    settings = UnweightSettings.from_yaml("analyses/unweight_fxfx.yaml", {"n": 1000})
    run_unweight(settings.replace(output="out.root"))
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..exceptions import BadInputError, ConfigError, InputFileNotFoundError
from ..settings import Settings, config_error, inline_refs, json_schema

__all__ = ["MODES", "SCHEMA", "Criteria", "UnweightSettings", "schema_text", "write_schema"]

#: the schema's name, ``flowstats/schema/unweight.schema.json``
SCHEMA = "unweight"
#: what the flow learns: flat branches, or whole events
MODES = ("features", "events")
#: options naming files that are read: relative to the YAML file that gives them
READ_PATHS = ("input", "model")
#: options that may be one comma-separated string instead of a list
NAME_LISTS = ("features", "positive", "discrete", "split_on")
#: the shipped schema file
SCHEMA_FILE = Path(__file__).absolute().parents[1] / "schema" / f"{SCHEMA}.schema.json"


def _names(value: Any) -> Any:
    r"""A comma-separated string of names as a list (``"auto"`` kept); numbers as names."""
    if isinstance(value, str) and value != "auto":
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) if isinstance(v, (int, float)) else v for v in value]
    return value


def _files(value: Any) -> Any:
    r"""One file name as a list of one."""
    return [value] if isinstance(value, str) else value


NonEmpty = Annotated[str, Field(min_length=1)]
Names = Annotated[list[NonEmpty], BeforeValidator(_names, json_schema_input_type=str | list[NonEmpty])]
AutoNames = Annotated[Literal["auto"] | list[NonEmpty] | None,
                      BeforeValidator(_names, json_schema_input_type=str | list[NonEmpty] | None)]
Files = Annotated[list[NonEmpty], BeforeValidator(_files,
                                                  json_schema_input_type=NonEmpty | list[NonEmpty])]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Interval = Annotated[list[float], Field(min_length=2, max_length=2)]


class Criteria(Settings):
    r"""Acceptance criteria of an analysis; ``criteria["max_auc"]`` works as for a mapping."""

    model_config = ConfigDict(frozen=True)

    min_p_value: float = Field(ge=0, le=1)
    """Every feature's chi2 p-value against the test events must exceed this."""
    max_auc: float = Field(ge=0, le=1)
    """The classifier two-sample test's weighted AUC must not exceed this."""

    def __getitem__(self, key: str) -> float:
        return getattr(self, key)


class UnweightSettings(Settings):
    r"""Every option of an unweighting run, with its type, default, range and description.

    Build it with :meth:`from_mapping` or :meth:`from_yaml` (both check the required and
    inconsistent options first, with the messages ``unweight()`` always gave) and change it
    with :meth:`replace`; it is frozen.
    """

    model_config = ConfigDict(frozen=True)

    mode: Literal["auto", "features", "events"] = "auto"
    """What the flow learns: 'features' (flat branches), 'events' (whole events, per category of particle content; input: LHE or 'flowstats convert' ROOT) or 'auto' (features when given, else events)."""
    input: Files = []
    """ROOT or LHE (.lhe, .lhe.gz) file(s) or glob patterns with the weighted events."""
    features: Names = []
    """Flat branches to model (list or comma-separated); required in mode 'features', none in mode 'events'."""
    weight: str | None = None
    """Event-weight branch (negative weights allowed, positive sum); required."""
    n: int | None = Field(None, ge=1)
    """Number of unweighted events to write; required."""
    output: str | None = Field(None, min_length=1)
    """The output ROOT file; required."""
    lhe: str | None = Field(None, min_length=1)
    """Mode 'events': also write the events as this Les Houches file (.lhe or .lhe.gz)."""
    sqrt_s: float | None = Field(None, gt=0)
    """Mode 'events': collision energy in GeV (null: from the input's LHE init block)."""
    tree: NonEmpty = "events"
    """TTree name (for LHE inputs: the name given to the converted tree)."""
    cut: str | None = None
    """Selection (uproot expression) applied before anything else."""
    model: str | None = Field(None, min_length=1)
    """Directory of a saved flow to use instead of training."""
    model_out: str | None = Field(None, min_length=1)
    """Where to save the trained flow (null: <output stem>_model next to output)."""
    report: str | None = Field(None, min_length=1)
    """Directory for summary.json and the plots, from held-out test events only (null: no report)."""
    kind: Literal["nsf", "maf", "realnvp", "cnf"] = "nsf"
    """Flow: nsf (splines), maf, realnvp (coupling) or cnf (continuous, FFJORD)."""
    base: Literal["normal", "studentt"] = "normal"
    """Base distribution of the flow."""
    nu: float = Field(1.0, gt=0)
    """Degrees of freedom of the Student-t base."""
    transforms: int = Field(4, ge=1)
    """Autoregressive (or coupling) transforms of the flow."""
    hidden: list[Annotated[int, Field(ge=1)]] = [64, 64]
    """Hidden layer sizes of each transform."""
    bins: int = Field(8, ge=2)
    """Spline bins (nsf)."""
    positive: AutoNames = "auto"
    """Log-mapped features (list or comma-separated); 'auto': those with min > 0; null or empty: none."""
    discrete: AutoNames = "auto"
    """Integer features to dequantise; 'auto' or null: all-integer columns with at most 50 distinct values; empty: none."""
    bounds: dict[str, Interval] | None = None
    """{feature: [low, high]} of bounded features (logit map)."""
    epochs: int = Field(40, ge=1)
    """Epochs of the cosine learning-rate schedule from lr to lr/100 (the best validation epoch is kept)."""
    batch_size: int = Field(2048, ge=1)
    """Training mini-batch size (lower it for samples of a few thousand events)."""
    lr: float = Field(2e-3, gt=0)
    """Initial learning rate."""
    patience: int = Field(40, ge=1)
    """Stop after this many epochs without a better validation loss."""
    test_fraction: Fraction = 0.25
    """Fraction of the events held out for the report (never trained on)."""
    val_fraction: Fraction = 0.2
    """Fraction of the remaining events used for early stopping."""
    seed: int = Field(0, ge=0)
    """Seeds the split, the flow, the sampling, the baselines and the classifier test."""
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$")
    """Torch device: auto, cpu, cuda or cuda:N."""
    atom_fraction: float = Field(0.02, ge=0, le=1)
    """A continuous value held by at least this fraction of the events (e.g. pT = 0) gets its own category and flow; 0 disables."""
    marginal_maps: bool = True
    """Map each continuous feature onto its empirical CDF before the flow."""
    split_on: Names = []
    """Integer features whose every value gets its own category, flow and exact weighted fraction (e.g. njet)."""
    members: int = Field(1, ge=1)
    """Flows per category (different seeds), sampled as an equal mixture."""
    refine: bool = True
    """Reweight the generated events to the training events with a boosted-tree classifier and unweight them again, which removes most of the flow's mis-modelling (whole events: on the observables the flows learn as coordinates)."""
    report_bins: int = Field(30, ge=2)
    """Bins per feature in the report's chi2 tests (and the input's negative-density check)."""
    folds: int = Field(5, ge=2)
    """Folds of the classifier two-sample test."""
    plots: bool = True
    """Whether the report includes PNG plots."""
    force: bool = False
    """Replace existing outputs."""
    criteria: Criteria | None = None
    """Acceptance criteria of an analysis (read by e.g. analyses/unweight_fxfx.py, not by the unweighting itself)."""

    @field_validator("*", mode="before")
    @classmethod
    def _python_values(cls, value: Any, info: Any) -> Any:
        return _normalise(info.field_name, value)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str = "configuration",
                     overrides: Mapping[str, Any] | None = None) -> UnweightSettings:
        r"""Validated settings from a mapping of options (missing ones take their defaults).

        Python values are accepted where JSON ones are meant (tuples, paths, numpy scalars,
        comma-separated names). Checks, in this order: unknown keys (ConfigError naming the
        key and the closest valid one), the arguments ``unweight()`` always checked
        (BadInputError, same messages), then every value (ConfigError naming the key).

        Arguments:
            mapping: The options.
            source: Where they came from (a file name, ``"unweight()"``), for the messages.
            overrides: Options replacing those of ``mapping``; None values mean "not given".
        """
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{source}: expected a mapping of options, got "
                              f"{type(mapping).__name__}")
        data = {key: _normalise(key, value) for key, value in _merge(mapping, overrides).items()}
        try:
            return _checked(data, cls.model_validate(data))
        except ValidationError as err:
            if not any(e["type"] == "extra_forbidden" for e in err.errors()):
                _check_arguments(data)
            raise config_error(cls, err, source) from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Mapping[str, Any] | None = None
                  ) -> UnweightSettings:
        r"""Validated settings from a YAML file; ``input`` and ``model`` are relative to the
        file's directory, the outputs to the working directory.

        Arguments:
            path: The YAML file.
            overrides: Options replacing the file's (e.g. from the command line, relative to
                the working directory); None values mean "not given".
        """
        path = Path(path)
        data = _read_yaml(path)
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


def schema_text() -> str:
    r"""The JSON Schema of :class:`UnweightSettings`, as shipped (``flowstats/schema/``)."""
    schema = json_schema(
        UnweightSettings, "flowstats unweighting configuration",
        "Every option of `flowstats unweight` and `flowstats.unweight()` (generated from "
        "flowstats.settings.unweight.UnweightSettings); options given on the command line "
        "override the file. Paths that are read (input, model) are relative to the YAML "
        "file's directory, paths that are written (output, model_out, report) to the "
        "working directory.")

    schema = inline_refs(schema, schema.get("$defs", {}))
    schema = {"$schema": schema.pop("$schema"),
              "$id": "https://flowstats.invalid/schema/unweight.schema.json", **schema}
    return json.dumps(schema, indent=2) + "\n"


def write_schema(path: str | os.PathLike = SCHEMA_FILE) -> Path:
    r"""Writes :func:`schema_text` to ``path`` (default: the shipped file); returns the path.

    Arguments:
        path: Where to write it.
    """
    path = Path(path)
    path.write_text(schema_text())
    return path


def _read_yaml(path: Path) -> Any:
    r"""The options of a YAML file, as written (validated by :meth:`UnweightSettings.from_mapping`)."""
    import yaml

    if not path.is_file():
        raise InputFileNotFoundError(str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return dict(data or {})


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
    r"""Python values as the model's: JSON values, lists of names, lower-case kind/device."""
    value = _plain(value)
    if key == "input":
        return _files(value)
    if key in NAME_LISTS:
        return _names(value)
    if key in ("kind", "device") and isinstance(value, str):
        return value.lower()
    return value


def _checked(data: Mapping[str, Any], settings: UnweightSettings) -> UnweightSettings:
    _check_arguments(data)
    return settings


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
