r"""The stages of an unweighting run, each a function of the settings and of what the stages
before it returned:

:func:`check_outputs` -> :func:`read` -> :func:`split` -> :func:`fit` -> :func:`sample` ->
:func:`columns` -> :func:`write` -> :func:`summarise` -> :func:`report`

(:func:`~flowstats.unweighting.job.run_unweight` runs them). :func:`read`, :func:`fit`,
:func:`sample` and :func:`columns` are those of mode ``"features"`` (flat branches; a
:class:`~flowstats.unweighting.job.Mode`); another mode brings its own four, which may keep
what only they understand in ``Inputs.data`` and ``Generated.data`` (e.g. particle
records), and shares the others: they see the weights and a matrix of named columns to compare
(``Inputs.x``, ``Generated.x``), and the branches to write. :func:`flow_options` and
:func:`fit_options` turn the settings into the flows' options for every mode.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_output
from ..exceptions import BadInputError, closest
from ..settings.unweight import UnweightSettings

log = logging.getLogger(__name__)

__all__ = ["MAX_DISCRETE_VALUES", "Fitted", "Generated", "Inputs", "Outputs", "Split",
           "check_outputs", "columns", "default_model_path", "detect_discrete", "fit",
           "fit_options", "flow_options", "read", "report", "sample", "split",
           "split_indices", "summarise", "write"]

#: integer observables with at most this many distinct values are dequantised automatically
MAX_DISCRETE_VALUES = 50


# ---------------------------------------------------------------------------- helpers

def default_model_path(output: str | Path) -> Path:
    r"""The default model directory for ``output``: ``<dir>/<stem>_model``.

    Arguments:
        output: The unweighted ROOT file.
    """
    output = Path(output)
    return output.with_name(f"{output.stem}_model")


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Sorted indices of the training (incl. validation) and test events, drawn by seed.

    Arguments:
        n: Number of events.
        test_fraction: Fraction held out for the report.
        seed: Seed of the split.
    """
    n_test = int(round(n * test_fraction))
    perm = np.random.default_rng([int(seed), 7]).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def detect_discrete(x: np.ndarray, names: Sequence[str]) -> list[str]:
    r"""Features whose values are all integers, with at most 50 distinct values.

    Arguments:
        x: (n, d) events.
        names: Feature names.
    """
    out = []
    for k, name in enumerate(names):
        col = x[:, k]
        if np.all(col == np.round(col)) and len(np.unique(col)) <= MAX_DISCRETE_VALUES:
            out.append(name)
    return out


def _names_option(value: Sequence[str] | str | None, what: str, names: Sequence[str],
                  detected: list[str]) -> list[str]:
    if value is None or value == "auto":
        return detected
    for name in value:
        if name not in names:
            hint = closest(name, names)
            raise BadInputError(f"{what} {name!r} is not one of the features {list(names)}"
                                + (f"; did you mean {hint[0]!r}?" if hint else ""))
    return list(value)


def _negative_regions(x: np.ndarray, w: np.ndarray, names: Sequence[str], bins: int
                      ) -> dict[str, list[dict[str, float]]]:
    from .compare import binning, histogram, negative_bins

    found = {}
    for k, name in enumerate(names):
        edges = binning(x[:, k], bins)
        hits = negative_bins(*histogram(x[:, k], w, edges), edges)
        if hits:
            found[name] = hits
            log.warning("feature %r: %d bins of the weighted input are significantly negative "
                        "(z < -3); a flow cannot reproduce a negative density there", name,
                        len(hits))
    return found


def flow_options(settings: UnweightSettings) -> dict[str, Any]:
    r"""The keyword arguments of :class:`~flowstats.flows.Flow` given by ``settings``.

    Arguments:
        settings: The run's settings.
    """
    return {"kind": settings.kind, "transforms": settings.transforms,
            "hidden": tuple(settings.hidden), "bins": settings.bins, "base": settings.base,
            "nu": settings.nu}


def fit_options(settings: UnweightSettings, device: str) -> dict[str, Any]:
    r"""The keyword arguments of :meth:`~flowstats.flows.Flow.fit` given by ``settings``.

    Arguments:
        settings: The run's settings.
        device: The resolved torch device.
    """
    return {"epochs": settings.epochs, "batch_size": settings.batch_size, "lr": settings.lr,
            "val_fraction": settings.val_fraction, "patience": settings.patience,
            "device": device}


def _history_summary(history: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("train_loss", "val_loss", "best_epoch", "best_val_loss", "epochs_run",
            "stopped_early", "n_train", "n_val", "n_eff_train", "n_eff_val", "train_time",
            "nan_restores", "spline_bound")
    return {k: history[k] for k in keep if k in history}


# ---------------------------------------------------------------------------- stage results

@dataclass
class Outputs:
    r"""The checked output paths.

    Arguments:
        output: The unweighted ROOT file.
        model_out: Where the trained model goes (None when one is loaded).
        report: The report directory, or None.
    """

    output: Path
    model_out: Path | None
    report: Path | None


@dataclass
class Inputs:
    r"""The weighted events as a matrix with named columns, and what is known of them.

    Arguments:
        paths: The input files.
        names: The column names of ``x``.
        x: (n, d) events: what the flow learns (mode ``"features"``), in any case what the
            report compares.
        w: (n,) weights.
        n_eff: Effective sample size :math:`(\sum w)^2 / \sum w^2`.
        discrete: Columns dequantised by the flow (and written as integers).
        split_on: Integer columns whose every value gets its own category and flow.
        positive: Log-mapped columns, or ``"auto"``.
        negative_bins: ``{name: bins}`` where the weighted density is significantly negative.
        notes: Remarks for the summary.
        data: What else a mode reads (e.g. whole-event records); None in mode ``"features"``.
    """

    paths: list[str]
    names: list[str]
    x: np.ndarray
    w: np.ndarray
    n_eff: float
    discrete: list[str] = field(default_factory=list)
    split_on: list[str] = field(default_factory=list)
    positive: list[str] | str = "auto"
    negative_bins: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data: Any = None

    @property
    def sigma(self) -> float:
        r"""The sum of the weights (the cross-section the output keeps)."""
        return float(self.w.sum())


@dataclass
class Split:
    r"""Training (incl. validation) and held-out test events.

    Arguments:
        train, test: Sorted indices into the input events.
        x_train, w_train, x_test, w_test: The events and weights of each part.
    """

    train: np.ndarray
    test: np.ndarray
    x_train: np.ndarray
    w_train: np.ndarray
    x_test: np.ndarray
    w_test: np.ndarray


@dataclass
class Fitted:
    r"""The model, trained or loaded.

    Arguments:
        model: The :class:`~flowstats.unweighting.flow_model.UnweightModel`.
        histories: Training history per category (empty when loaded).
        config: The model's resolved configuration (summary and provenance).
        notes: Remarks for the summary.
    """

    model: Any
    histories: dict[str, Any]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class Generated:
    r"""The sampled events.

    Arguments:
        x: (N, d) events, columns as ``Inputs.names``.
        w: (N,) weights, all ``sigma / N``.
        data: What else a mode generates (e.g. whole-event records); None in mode
            ``"features"``.
        refinement: What :func:`refined_sample` reports (None without refinement).
    """

    x: np.ndarray
    w: np.ndarray
    data: Any = None
    refinement: dict[str, Any] | None = None

    @property
    def unit(self) -> float:
        r"""The weight of every event."""
        return float(self.w[0])


# ---------------------------------------------------------------------------- stages

def check_outputs(settings: UnweightSettings) -> Outputs:
    r"""Refuses outputs that would overwrite an input, or anything without ``force`` (and with
    it anything that is not an earlier flowstats output), and a missing ``model``.

    Arguments:
        settings: The run's settings.
    """
    output = Path(settings.output)
    inputs = {Path(p).resolve() for p in settings.input if Path(p).exists()}
    if output.resolve() in inputs:
        raise BadInputError(f"the output {str(output)!r} is also an input; inputs are never "
                            "modified")
    check_output(output, settings.force)
    model_out = None
    if settings.model is None:
        model_out = Path(settings.model_out or default_model_path(output))
        check_output(model_out, settings.force)
        if model_out.exists() and not any((model_out / name).is_file() for name in (
                "unweight_model.json", "config.json", "whole_event_model.json")):
            raise BadInputError(f"{str(model_out)!r} exists and is not a flowstats model "
                                "directory; refusing to replace it")
    if settings.lhe is not None:
        lhe = Path(settings.lhe)
        if lhe.resolve() in inputs or lhe.resolve() == output.resolve():
            raise BadInputError(f"the LHE output {str(lhe)!r} is also an input or the ROOT "
                                "output")
        check_output(lhe, settings.force)
    report = None
    if settings.report is not None:
        from .report import check_report_dir

        report = check_report_dir(settings.report, settings.force)
    if settings.model is not None and not Path(settings.model).is_dir():
        raise BadInputError(f"model directory {str(settings.model)!r} does not exist")
    return Outputs(output, model_out, report)


def read(settings: UnweightSettings) -> Inputs:
    r"""Reads the flat ``features`` and the ``weight`` (mode ``"features"``), checks them
    (missing branches, NaN, sum of weights <= 0, ...) and resolves the feature roles
    (``discrete``, ``split_on``, ``positive``).

    Arguments:
        settings: The run's settings.
    """
    from ..io import read_events

    names = list(settings.features)
    events = read_events(settings.input, settings.tree, names, settings.weight, settings.cut)
    x, w = events.x, events.weights
    inputs = Inputs(list(settings.input), names, x, w, float(events.n_eff))
    if np.all(w > 0):
        inputs.notes.append("all input weights are positive: there are no negative weights to "
                            "remove; the flow still unweights (variable weights -> unit "
                            "weights)")
        log.warning("all %d input weights are positive; unweighting anyway", len(w))
    inputs.negative_bins = _negative_regions(x, w, names, settings.report_bins)
    if inputs.negative_bins:
        inputs.notes.append("the weighted input density is significantly negative in some bins "
                            f"of {sorted(inputs.negative_bins)} (input_negative_density_bins): "
                            "a flow (a positive density) cannot reproduce those regions")
    detected = detect_discrete(x, names)
    inputs.split_on = _names_option(settings.split_on, "split_on feature", names, [])
    bad = [f for f in inputs.split_on if f not in detected]
    if bad:
        raise BadInputError(f"split_on features {bad} are not integer valued with at most "
                            f"{MAX_DISCRETE_VALUES} distinct values")
    inputs.discrete = [f for f in _names_option(settings.discrete, "discrete feature", names,
                                                detected) if f not in inputs.split_on]
    if settings.positive != "auto":
        inputs.positive = _names_option(settings.positive, "positive feature", names, [])
        bad = [p for p in inputs.positive if x[:, names.index(p)].min() <= 0]
        if bad:
            raise BadInputError(f"positive (log-mapped) features {bad} have values <= 0")
    return inputs


def split(inputs: Inputs, settings: UnweightSettings) -> Split:
    r"""Holds out ``test_fraction`` of the events for the report (drawn by ``seed``).

    Arguments:
        inputs: The events.
        settings: The run's settings.
    """
    train, test = split_indices(len(inputs.x), settings.test_fraction, settings.seed)
    if len(test) < 1 or len(train) < 2:
        raise BadInputError(f"{len(inputs.x)} events are too few to split off test_fraction="
                            f"{settings.test_fraction}")
    parts = Split(train, test, inputs.x[train], inputs.w[train], inputs.x[test],
                  inputs.w[test])
    if settings.report is not None and parts.w_test.sum() <= 0:
        raise BadInputError(f"the {len(test)} test events have a sum of weights "
                            f"{parts.w_test.sum():.4g} <= 0; use more events or a larger "
                            "test_fraction")
    return parts


def fit(inputs: Inputs, parts: Split, settings: UnweightSettings, device: str) -> Fitted:
    r"""Trains the model on the training events (mode ``"features"``: one flow per category of
    point masses and ``split_on`` values, ``members`` flows each), or loads ``settings.model``.

    Arguments:
        inputs: The events (column names and roles).
        parts: The split; only ``x_train``, ``w_train`` are used.
        settings: The run's settings.
        device: The resolved torch device.
    """
    from .flow_model import UnweightModel

    if settings.model is not None:
        model = UnweightModel.load(settings.model, features=inputs.names, device=device)
        fitted = Fitted(model, {}, {"loaded_from": str(settings.model)}, [
            "model loaded from --model: the test events are held out only if the model was "
            "trained by flowstats unweight on the same input and seed"])
    else:
        s = settings
        flows = flow_options(s)
        model = UnweightModel.fit(parts.x_train, parts.w_train, inputs.names,
                                  discrete=inputs.discrete, positive=inputs.positive,
                                  bounds=s.bounds, atom_fraction=s.atom_fraction,
                                  marginal_maps=s.marginal_maps, split_on=inputs.split_on,
                                  members=s.members, flow_options=flows,
                                  fit_options=fit_options(s, device), seed=s.seed)
        config = {**flows, "hidden": list(s.hidden), "discrete": inputs.discrete,
                  "positive": inputs.positive, "bounds": dict(s.bounds or {}),
                  "atom_fraction": s.atom_fraction, "marginal_maps": s.marginal_maps,
                  "split_on": inputs.split_on, "members": s.members}
        fitted = Fitted(model, model.histories, config)
        for drop in model.dropped:
            fitted.notes.append(f"category {drop['label']} dropped ({drop['n_train']} training "
                                f"events, weighted fraction {drop['fraction']:.4f}): too few "
                                "events or a non-positive cross-section; the other categories "
                                "are scaled up")
    fitted.config["categories"] = model.describe()["categories"]
    fitted.config["atoms"] = model.atoms
    if model.atoms:
        fitted.notes.append(f"point masses {model.atoms}: one flow per category "
                            f"({len(model.categories)} categories)")
    return fitted


def sample(fitted: Fitted, inputs: Inputs, settings: UnweightSettings) -> Generated:
    r"""Draws ``n`` events (seed ``seed + 1``), each of weight ``sigma / n`` (mode
    ``"features"``: the model's matrix is what the report compares).

    Arguments:
        fitted: The model.
        inputs: The events (their sum of weights ``sigma``).
        settings: The run's settings.
    """
    x = fitted.model.sample(settings.n, seed=settings.seed + 1)
    return Generated(x, np.full(settings.n, inputs.sigma / settings.n))


def refined_sample(fitted: Fitted, inputs: Inputs, parts: Split, settings: UnweightSettings
                   ) -> Generated:
    r"""Draws ``n`` events reweighted to the training events by a classifier and unweighted
    again (:mod:`.refine`; seeds ``seed + 2`` onwards), each of weight ``sigma / n``.

    Arguments:
        fitted: The model.
        inputs: The events (their sum of weights ``sigma``).
        parts: The split; the classifier sees ``x_train``, ``w_train`` only.
        settings: The run's settings.
    """
    from .refine import refine

    def draw(k: int, seed: int) -> np.ndarray:
        return fitted.model.sample(k, seed=seed)

    x, info = refine(draw, settings.n, parts.x_train, parts.w_train, seed=settings.seed)
    return Generated(x, np.full(settings.n, inputs.sigma / settings.n), refinement=info)


def columns(generated: Generated, inputs: Inputs, settings: UnweightSettings
            ) -> dict[str, np.ndarray]:
    r"""The branches to write (mode ``"features"``): the features under their input names
    (``discrete`` ones as int32) and the weight under the input's weight branch name.

    Arguments:
        generated: The sampled events.
        inputs: The events (column names and roles).
        settings: The run's settings.
    """
    out = {name: generated.x[:, k].astype(np.int32) if name in inputs.discrete
           else generated.x[:, k] for k, name in enumerate(inputs.names)}
    out[settings.weight] = generated.w
    return out


def write(branches: Mapping[str, Any], fitted: Fitted, outputs: Outputs,
          settings: UnweightSettings, provenance: Mapping[str, Any], *,
          strings: Mapping[str, str] | None = None,
          counters: Mapping[str, str] | None = None) -> None:
    r"""Writes the events (TTree ``settings.tree``, with the provenance) and saves a trained
    model.

    Arguments:
        branches: Branch name -> array, from :func:`columns`.
        fitted: The model.
        outputs: The checked output paths.
        settings: The run's settings.
        provenance: Stored next to the tree (``flowstats._utils.provenance()``).
        strings: More TObjStrings next to the tree (e.g. the LHE header of whole events).
        counters: Record column -> name of its counter branch (see
            :class:`~flowstats.io.writing.EventWriter`).
    """
    from ..io.writing import EventWriter

    with EventWriter(outputs.output, settings.tree, force=settings.force,
                     metadata=dict(provenance), strings=strings, counters=counters) as out:
        out.write(dict(branches))
    if outputs.model_out is not None:
        fitted.model.save(outputs.model_out, force=settings.force)


def summarise(inputs: Inputs, parts: Split, fitted: Fitted, generated: Generated,
              outputs: Outputs, settings: UnweightSettings) -> dict[str, Any]:
    r"""The summary of the run (``summary.json`` without the test comparison of
    :func:`report`).

    Arguments:
        inputs, parts, fitted, generated, outputs: What the stages returned.
        settings: The run's settings.
    """
    w, s = inputs.w, settings
    return {
        "input": {"paths": inputs.paths, "tree": s.tree, "features": inputs.names,
                  "weight": s.weight, "n": len(w), "sum_weights": inputs.sigma,
                  "negative_fraction": float(np.mean(w < 0)), "n_eff": inputs.n_eff,
                  "all_weights_positive": bool(np.all(w > 0))},
        "split": {"seed": s.seed, "test_fraction": s.test_fraction,
                  "val_fraction": s.val_fraction, "n_train_and_val": len(parts.train),
                  "n_test": len(parts.test)},
        "input_negative_density_bins": inputs.negative_bins,
        "output": {"path": str(outputs.output), "n": s.n, "weight_per_event": generated.unit,
                   "sum_weights": float(generated.w.sum())},
        "model": {"path": str(s.model if s.model is not None else outputs.model_out),
                  "loaded": s.model is not None, **fitted.config},
        "training": {label: _history_summary(h) for label, h in fitted.histories.items()},
        "refinement": generated.refinement,
        "seeds": {"split": s.seed, "flow": s.seed,
                  "sample": s.seed + 1 if generated.refinement is None else s.seed + 2,
                  "baselines": s.seed, "classifier": s.seed},
        "notes": [*inputs.notes, *fitted.notes],
    }


def report(summary: dict[str, Any], inputs: Inputs, parts: Split, fitted: Fitted,
           generated: Generated, settings: UnweightSettings) -> None:
    r"""Compares the generated events with the held-out test events (chi2 per feature and
    pair, classifier two-sample test, the baselines; :mod:`.evaluate`), states what the
    generated sample is worth (its equivalent number of true events, :mod:`.worth`), adds the
    results to ``summary`` and writes the report directory (``summary.json``, plots; :mod:`.report`).

    ``summary["timings"]`` gets ``evaluate_s`` (and its ``total_s`` the evaluation's time)
    before ``summary.json`` is written, ``report_s`` after.

    Arguments:
        summary: From :func:`summarise`, with ``timings`` and ``provenance``; updated.
        inputs, parts, fitted, generated: What the stages returned.
        settings: The run's settings.
    """
    import time

    from .evaluate import evaluate
    from .report import write_report

    t0 = time.perf_counter()
    ev = evaluate(inputs.names, parts.x_test, parts.w_test, generated.x, generated.w,
                  parts.x_train, parts.w_train, discrete=[*inputs.discrete, *inputs.split_on],
                  bins=settings.report_bins, folds=settings.folds, seed=settings.seed)
    from .worth import statistical_worth

    worth = statistical_worth(inputs.names, generated.x, parts.x_test, parts.w_test,
                              parts.x_train, parts.w_train,
                              discrete=[*inputs.discrete, *inputs.split_on])
    timings = summary["timings"]
    timings["evaluate_s"] = time.perf_counter() - t0
    timings["total_s"] = timings.pop("total_s", 0.0) + timings["evaluate_s"]
    s = ev.summary
    summary.update({
        "test": s["test"],
        "features": s["flow"]["features"],
        "pairs": s["flow"]["pairs"],
        "classifier": s["flow"].get("classifier"),
        "chi2_sum": s["flow"]["chi2_sum"], "ndf_sum": s["flow"]["ndf_sum"],
        "min_p_value": s["flow"]["min_p_value"],
        "baselines": {"drop_negatives": s["drop_negatives"], "hit_or_miss": s["hit_or_miss"]},
        "negative_density_bins": s["negative_density_bins"],
        "chi2_bins": settings.report_bins,
        "worth": worth,
    })
    for key in ("timings", "provenance"):  # last in summary.json
        summary[key] = summary.pop(key)
    if s["negative_density_bins"]:
        summary["notes"].append("the weighted test density is significantly negative in some "
                                "bins (negative_density_bins): a flow cannot reproduce those")
    t0 = time.perf_counter()
    write_report(settings.report, summary, inputs.names, ev, parts.x_test, parts.w_test,
                 fitted.histories or None, force=settings.force, plots=settings.plots)
    timings["report_s"] = time.perf_counter() - t0
