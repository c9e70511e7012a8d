r"""The settings of a flow, its training, a classifier, an anomaly score and a bump hunt.

Every default of these options is written here, once: :func:`flowstats.anomaly.score`
validates its options with :class:`ScoreSettings`, :mod:`flowstats.config` validates bump-hunt
configurations with :class:`BumpHuntSettings` (whose JSON Schema is the shipped
``flowstats/schema/analysis.schema.json``, written by :func:`write_schema`), and the options of
``flowstats bumphunt``, ``flowstats score`` and ``flowstats train`` are generated from them.

The ``method`` and ``function`` names are checked against the registries
(:data:`flowstats.registry.METHODS`, :data:`flowstats.stats.functions.FUNCTIONS`: built-ins
and plugins) when a configuration is validated; the shipped schema leaves them open and
:func:`flowstats.config.schema` adds their enums.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from . import Settings, inline_refs, json_schema

__all__ = ["DEFAULT_CLASSIFIER", "BumpHuntSettings", "ClassifierSettings", "FitSettings",
           "FlowSettings", "ScanSettings", "ScoreSettings", "SidebandFitSettings",
           "SidebandFlowSettings", "schema", "write_schema"]

#: flow kinds, bases, CNF traces and network activations of :mod:`flowstats.flows.models`
#: (restated: importing that module loads torch)
Kind = Literal["nsf", "maf", "realnvp", "cnf"]
Base = Literal["normal", "studentt"]
Trace = Literal["exact", "hutchinson"]
Activation = Literal["relu", "elu", "silu", "gelu", "tanh"]
Space = Literal["latent", "data", "calibrated"]

Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]

#: classifier of cathode and bootstrap when ``classifier`` is not set: the torch MLP ensemble
#: (a higher max SIC than the boosted trees at about twice the CPU; measured in the docs'
#: benchmarks). A method's registry entry may set another (cwola: ``hgb``).
DEFAULT_CLASSIFIER = "mlp"


class FlowSettings(Settings):
    r"""The architecture of a normalizing flow (:class:`flowstats.flows.Flow`)."""

    kind: Kind = "nsf"
    """Flow: nsf (splines), maf, realnvp (coupling) or cnf (continuous, FFJORD)."""
    transforms: int = Field(4, ge=1)
    """Number of transforms (layers) of the flow."""
    hidden: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64, 64],
                                                      min_length=1)
    """Hidden layer sizes of each transform's network."""
    bins: int = Field(8, ge=1)
    """Spline bins of the nsf transforms."""
    base: Base = "normal"
    """Base distribution of the flow."""
    nu: float = Field(1.0, gt=0)
    """Degrees of freedom of the Student-t base."""
    trace: Trace = "exact"
    """Divergence of the cnf: exact or the Hutchinson estimate."""
    activation: Activation | None = None
    """Activation of the networks (null: zuko's, ReLU, or ELU for the cnf)."""


class SidebandFlowSettings(FlowSettings):
    r"""The sideband flow p_bkg(x | m) of the flow-based anomaly methods."""

    activation: Activation | None = "silu"
    """Activation of the networks: smooth (SiLU) by default, since the flow interpolates into the SR, where a ReLU network's piecewise-linear interpolation misfits (null: zuko's)."""
    spline_bound: float | None = Field(None, gt=0)
    """Bound of the spline domain of the nsf transforms (null: the flow's own)."""
    bounds: dict[str, list[float]] | None = None
    """Feature -> [lo, hi]: bounded features with a logit map (null: the features within [0, 1])."""
    positive: list[str] | None = None
    """Positive features with a log map (null: the other features above 0)."""
    decorrelate: bool = False
    """Shift each feature's log / logit by a slope in log m fitted on the sidebands before the flow."""


class FitSettings(Settings):
    r"""The training of a flow (:meth:`flowstats.flows.Flow.fit`)."""

    epochs: int = Field(100, ge=1)
    """Training epochs (at most: training stops early after patience epochs without improvement)."""
    batch_size: int = Field(4096, ge=1)
    """Events per optimiser step."""
    lr: float = Field(1e-3, gt=0)
    """Learning rate (Adam, cosine-annealed)."""
    patience: int = Field(10, ge=1)
    """Epochs without a better validation loss before training stops."""
    val_fraction: float = Field(0.2, gt=0, lt=1)
    """Fraction of the events held out for validation."""


class SidebandFitSettings(FitSettings):
    r"""The training of the sideband flow: shorter and faster than a plain flow's (it reaches the
    same max SIC as longer training)."""

    epochs: int = Field(12, ge=1)
    """Training epochs (at most: training stops early after patience epochs without improvement)."""
    batch_size: int = Field(2048, ge=1)
    """Events per optimiser step (smaller for small samples: at least 50 steps per epoch)."""
    lr: float = Field(2e-3, gt=0)
    """Learning rate (Adam, cosine-annealed)."""
    patience: int = Field(5, ge=1)
    """Epochs without a better validation loss before training stops."""


class ClassifierSettings(Settings):
    r"""Options of the classifier ensembles (``classifier_options``): the MLP ensemble
    (:class:`flowstats.anomaly.classifiers.MLPEnsemble`) reads ``n_models`` to
    ``max_epoch_events``, the boosted trees (:class:`~flowstats.anomaly.classifiers.HGBEnsemble`)
    ``n_models`` and ``max_iter`` to ``n_threads``; only the options set are passed on, the
    others keep the ensemble's defaults shown here."""

    n_models: int | None = Field(None, ge=1)
    """Networks or boosted-tree models averaged per fold (null: 1 MLP, 3 HGB)."""
    hidden: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64, 64, 64])
    """MLP hidden layer sizes."""
    epochs: int | None = Field(None, ge=1)
    """MLP training epochs (null: 30, or 15 for latent cathode with fresh_template)."""
    best_epochs: int = Field(5, ge=1)
    """MLP: the predictions of this many best validation epochs are averaged."""
    batch_size: int = Field(256, ge=1)
    """MLP events per optimiser step."""
    lr: float = Field(1e-3, gt=0)
    """MLP learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """MLP weight decay."""
    max_epoch_events: int | None = Field(350_000, ge=1)
    """MLP: at most this many training events per epoch, drawn anew each epoch (null: all)."""
    device: str | None = None
    """MLP torch device (null: the score's device)."""
    max_iter: int = Field(200, ge=1)
    """HGB boosting iterations."""
    learning_rate: float = Field(0.1, gt=0)
    """HGB learning rate."""
    max_leaf_nodes: int = Field(31, ge=2)
    """HGB leaves per tree."""
    min_samples_leaf: int = Field(200, ge=1)
    """HGB fewest events per leaf."""
    l2_regularization: float = Field(0.0, ge=0)
    """HGB L2 regularisation."""
    n_threads: int = Field(1, ge=1)
    """HGB OpenMP threads."""


class ScoreSettings(Settings):
    r"""Options of :func:`flowstats.anomaly.score` (each method reads those listed in its
    registry entry: the ``options`` of its :class:`flowstats.registry.Method`). Besides the
    fields below, the options that a registered method (a plugin's) declares are accepted and
    passed on as given; any other key is an error naming the closest valid one."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _declared_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        from ..registry import METHODS

        declared = {o for entry in METHODS for o in entry.options}
        unknown = [k for k in data if k not in cls.model_fields and k not in declared]
        if unknown:
            raise PydanticCustomError(
                "unknown_option", "unknown key {key}",
                {"key": str(unknown[0]), "allowed": sorted({*cls.model_fields, *declared})})
        return data

    flow: SidebandFlowSettings = Field(default_factory=SidebandFlowSettings)
    """Architecture of the sideband flow (and of the SR flows of anode and ranode)."""
    fit: SidebandFitSettings = Field(default_factory=SidebandFitSettings)
    """Training of the flows."""
    max_flow_events: int | None = Field(250_000, ge=1)
    """At most this many events, drawn at random, train each flow (null: all)."""
    space: Space = "latent"
    """Where the flow-based methods score: the sideband flow's latent space at each event's m (no sculpting of m; LaCATHODE, arXiv:2210.14924), the features themselves (sculpts when they depend on m), or the features with the score calibrated per mass to its background tail probability at the event's m (cathode and density: more sensitive, slower, flat in m on the dijet sample but not with a feature that follows m strongly; see the sculpting guide)."""
    whiten: StrictBool = True
    """In latent space, shift and rotate the SR events' latent points to zero mean and unit covariance; in calibrated space (cathode), give the template's latent points the SR events' latent mean and covariance instead (either removes the first two moments of the sideband flow's interpolation misfit)."""
    fresh_template: StrictBool = True
    """cathode in latent space with the MLP: train every epoch against new N(0, 1) background draws instead of one fixed template."""
    classifier: Literal["mlp", "hgb"] | None = None
    """Classifier of cathode, bootstrap and cwola (null: the method's default, mlp; cwola: hgb)."""
    classifier_options: ClassifierSettings = Field(default_factory=ClassifierSettings)
    """Options of the classifier ensembles."""
    k: int = Field(5, ge=2)
    """Folds of the cross-scoring."""
    oversample: float = Field(4.0, gt=0)
    """Background samples per SR event (the template; calibrated: also per event outside the SR)."""
    n_mass: int = Field(5, ge=1)
    """anode: SR mass points its densities are averaged over."""
    signal_fraction: Literal["learn"] | Annotated[float, Field(gt=0, lt=1)] = "learn"
    """ranode: the signal fraction of the SR, learnt or fixed."""
    min_sr: int = Field(100, ge=1)
    """Fewest signal-region events accepted."""
    min_sideband: int = Field(100, ge=1)
    """Fewest sideband events accepted."""
    alpha: float = Field(0.1, gt=0, lt=1)
    """bootstrap: type-I rate, the fraction of background failing the likelihood-ratio cut."""
    iterations: int = Field(2, ge=1)
    """bootstrap: re-estimation steps after the initial CATHODE ratio."""

    @field_serializer("classifier_options")
    def _set_only(self, value: ClassifierSettings) -> dict[str, Any]:
        # only the options set: the others keep the ensemble's (and the method's) defaults
        return value.model_dump(exclude_unset=True)


class ScanSettings(Settings):
    r"""A scan of signal-region windows."""

    range: list[float] = Field(min_length=2, max_length=2)
    """The scanned mass range [lo, hi]."""
    windows: int | None = Field(None, ge=1)
    """Number of windows, spread evenly (null: as many as width and step give)."""
    width: float | None = Field(None, gt=0)
    """Window width (null: 400, or (hi - lo) / windows, adjacent windows)."""
    step: float | None = Field(None, gt=0)
    """Window step (null: 100; with windows, even spacing)."""


def _registered(kind: str, value: str) -> str:
    from ..exceptions import closest

    if kind == "method":
        from ..registry import METHODS

        names = METHODS.names()
    else:
        from ..stats.functions import FUNCTIONS

        names = ("auto", *FUNCTIONS)
    if value not in names:
        hint = closest(value, names)
        raise ValueError(f"{value!r} is not one of {', '.join(names)}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return value


class BumpHuntSettings(Settings):
    r"""Every option of ``flowstats bumphunt``; keys given on the command line override the
    file."""

    input: str | list[str] | None = None
    """ROOT file(s) with the events."""
    tree: str = "events"
    """TTree name."""
    mass: str = "mjj"
    """Resonant feature (branch), e.g. mjj."""
    features: list[str] | None = Field(None, min_length=1)
    """Auxiliary features x of the anomaly score."""
    label: str | None = None
    """Truth-label branch (1 = signal), for ROC/SIC plots only."""
    weight: str | None = None
    """Event-weight branch: weighted histograms (sum of w^2 variances), weighted fits and pyhf models; negative weights allowed where a bin's sum is positive (the anomaly scores are trained unweighted)."""
    cut: str | None = None
    """Preselection expression."""
    method: str = "cathode"
    """A registered anomaly method (flowstats.registry.METHODS: cathode, anode, ranode, cwola, bootstrap, density and the methods of installed plugins); flowstats.config.schema() adds the enum of the registered names."""
    sr: list[float] | None = Field(None, min_length=2, max_length=2)
    """A single signal region [lo, hi]."""
    scan: ScanSettings | None = None
    """A scan of signal-region windows over [lo, hi]."""
    efficiency: list[Fraction] = Field(default_factory=lambda: [0.1, 0.01, 0.001], min_length=1)
    """Selection efficiencies: fractions of the SR events kept by the score cuts."""
    sideband_width: float | None = Field(None, gt=0)
    """Width of each sideband next to the SR (null: everything outside)."""
    fit_range: list[float] | None = Field(None, min_length=2, max_length=2)
    """m range of the background fit (null: the window and fit_margin window widths on each side, within the data)."""
    bin_width: float | None = Field(None, gt=0)
    """Mass histogram bin width, in the units of the mass branch (null: the window width / 8)."""
    fit_margin: float = Field(2.0, gt=0)
    """Default fit range: this many window widths on each side of the window."""
    function: str = "auto"
    """Background function of the sideband fits; auto: chosen per window and efficiency among the dijet, exponential-polynomial and power-law families (F-test within a family, best goodness of fit across); or a registered background function (flowstats.registry.FIT_FAMILIES: dijet3-5, expo1-6, power2-4 and the functions of installed plugins); flowstats.config.schema() adds the enum of 'auto' and the registered names."""
    sqrt_s: float = Field(13000.0, gt=0)
    """Centre-of-mass energy of the dijet functions, x = m / sqrt_s, in the units of the mass branch."""
    resolution: float = Field(0.05, gt=0)
    """Relative mass resolution of the Gaussian signal template."""
    cl: float = Field(0.95, gt=0, lt=1)
    """Confidence level of the upper limits (CLs)."""
    seed: int = Field(0, ge=0)
    """Seed of every random step."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device."""
    scheduler: str | None = None
    """null: serial; 'local': a dask LocalCluster; else an existing cluster's scheduler address."""
    workers: int | None = Field(None, ge=1)
    """Dask LocalCluster workers (null: the available cores divided by torch_threads)."""
    output: str | None = None
    """Output directory."""
    score_options: ScoreSettings = Field(default_factory=ScoreSettings)
    """Options of the anomaly score (flowstats.anomaly.score)."""
    torch_threads: int | None = Field(None, ge=1)
    """Torch threads per window task, fixed for the run so that results are identical serial or distributed (null: 2, or 1 when the calling process runs torch on one thread); dask LocalCluster workers default to the available cores divided by it."""
    fit_pvalue_min: float = Field(0.01, ge=0, le=1)
    """Sideband fits with a chi2 p-value below this are flagged 'poor fit' with a warning (and left out of the global significance with exclude_poor_fits)."""
    exclude_poor_fits: bool = False
    """Leave rows whose sideband fit is poor (fit p-value below fit_pvalue_min) out of the global significance."""
    closure: bool = False
    """Also run the closure check: the same analysis on background-like pseudo-data (each event's features redrawn from the sideband flow at its own m), testing that every selection keeps the same fraction of events at every m."""
    closure_alpha: float = Field(0.01, gt=0, lt=1)
    """Significance level of the closure check over all its windows and efficiencies (Bonferroni-corrected per test)."""
    allow_sculpting: bool = False
    """Run a method refused by default because it sculpts the background spectrum (cwola, a plugin method declared as sculpting, or space 'data'), with a warning."""
    global_method: Literal["gross-vitells", "bumphunter"] = "gross-vitells"
    """Global significance over the scan: the Gross-Vitells up-crossing bound on the largest local q0, or the BumpHunter statistic t = -ln(min local Poisson p) with seeded background-only pseudo-experiments (the windows must be whole bins of one grid)."""
    bumphunter_toys: int = Field(10_000, ge=100)
    """Pseudo-experiments per efficiency of global_method 'bumphunter'."""
    background: Literal["fit", "template"] = "fit"
    """Background of the selected SR: 'fit' (the smooth function fitted to the selected sidebands) or 'template' (the SR count times the fraction of the method's background template passing the cut, direct background estimation, arXiv:2411.00085; cathode, density, and anode/ranode in latent space)."""

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return _registered("method", value)

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        return _registered("function", value)


#: the shipped schema of :class:`BumpHuntSettings`
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "analysis.schema.json"


def _defaults(schema: dict[str, Any], model: type[Settings]) -> None:
    r"""Adds the defaults that pydantic leaves out of the schema (those of default factories)."""
    for name, info in model.model_fields.items():
        spec = schema["properties"][name]
        if info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, Settings):
            nested = type(default)
            _defaults(spec, nested)
        elif "default" not in spec:
            spec["default"] = default
        sub = [a for a in (info.annotation, *getattr(info.annotation, "__args__", ()))
               if isinstance(a, type) and issubclass(a, Settings)]
        if sub and not isinstance(default, Settings) and "properties" in spec:
            _defaults(spec, sub[0])


def schema() -> dict[str, Any]:
    r"""The JSON Schema of bump-hunt configurations (:class:`BumpHuntSettings`), method and
    function left open."""
    raw = json_schema(BumpHuntSettings, "flowstats bump-hunt analysis configuration",
                      "Every option of `flowstats bumphunt`; keys given on the command line "
                      "override the file.")
    out = inline_refs(raw, raw.get("$defs", {}))
    _defaults(out, BumpHuntSettings)
    return out


def schema_text() -> str:
    r"""The text of ``flowstats/schema/analysis.schema.json``."""
    return json.dumps(schema(), indent=2) + "\n"


def write_schema(path: str | Path = SCHEMA_PATH) -> Path:
    r"""Writes the JSON Schema of :class:`BumpHuntSettings` (``python -m
    flowstats.settings.analysis``).

    Arguments:
        path: Where (default: the shipped file).
    """
    path = Path(path)
    path.write_text(schema_text())
    return path


if __name__ == "__main__":
    print(write_schema())
