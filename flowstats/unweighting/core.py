r"""Flow unweighting: weighted (negatively weighted) events in, unit-weight events out.

Steps of :func:`unweight`:

1. validate everything (arguments, outputs that would be overwritten, the input file, tree,
   branches, finite values, sum of weights > 0) before any work: bad input writes nothing;
2. split the events into training (+ validation, inside :meth:`Flow.fit`) and test parts by
   seed; the test events are never seen by the flow;
3. train a :class:`~flowstats.flows.Flow` on the weighted training events by weighted maximum
   likelihood with early stopping on the weighted validation loss (or load one);
4. sample N events and write them with the input's branch names, each with weight
   :math:`\sigma/N` (:math:`\sigma` = sum of the input weights, so cross-sections are kept);
5. save the model (default ``<OUT stem>_model/`` next to OUT.root);
6. optionally write the report (:mod:`.report`): every comparison uses the test events only.

References:
    | B. Stienen and R. Verheyen, "Phase space sampling and inference from weighted events with
    | autoregressive flows", SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
    | R. Verheyen, "Event generation and density estimation with surjective normalizing
    | flows", SciPost Phys. 13 (2022) 047, arXiv:2205.01697.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_output, provenance, resolve_device
from ..exceptions import BadInputError

log = logging.getLogger(__name__)

__all__ = ["UnweightResult", "default_model_path", "detect_discrete", "split_indices", "unweight"]

#: integer observables with at most this many distinct values are dequantised automatically
MAX_DISCRETE_VALUES = 50


@dataclass
class UnweightResult:
    r"""What :func:`unweight` produced.

    Arguments:
        output: The unweighted ROOT file.
        n: Number of events written.
        sigma: Sum of the input weights (the cross-section the output reproduces).
        weight: The weight of every output event, ``sigma / n``.
        model: Where the model was saved (None when it was loaded with ``model=``).
        report: The report directory, or None.
        summary: The JSON summary (also ``report/summary.json`` when a report was asked for).
    """

    output: Path
    n: int
    sigma: float
    weight: float
    model: Path | None
    report: Path | None
    summary: dict[str, Any] = field(default_factory=dict)


def default_model_path(output: str | os.PathLike) -> Path:
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


def _names_option(value: Sequence[str] | str | None, what: str, features: Sequence[str],
                  detected: list[str]) -> list[str]:
    if value is None or (isinstance(value, str) and value == "auto"):
        return detected
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    value = [str(v) for v in value]
    from ..exceptions import closest

    for name in value:
        if name not in features:
            hint = closest(name, features)
            raise BadInputError(f"{what} {name!r} is not one of the features {list(features)}"
                                + (f"; did you mean {hint[0]!r}?" if hint else ""))
    return value


def _history_summary(history: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("train_loss", "val_loss", "best_epoch", "best_val_loss", "epochs_run",
            "stopped_early", "n_train", "n_val", "n_eff_train", "n_eff_val", "train_time",
            "nan_restores", "spline_bound")
    return {k: history[k] for k in keep if k in history}


def _negative_regions(x: np.ndarray, w: np.ndarray, features: Sequence[str], bins: int
                      ) -> dict[str, list[dict[str, float]]]:
    from .compare import binning, histogram, negative_bins

    found = {}
    for k, name in enumerate(features):
        edges = binning(x[:, k], bins)
        hits = negative_bins(*histogram(x[:, k], w, edges), edges)
        if hits:
            found[name] = hits
            log.warning("feature %r: %d bins of the weighted input are significantly negative "
                        "(z < -3); a flow cannot reproduce a negative density there", name,
                        len(hits))
    return found


def _validate(n: int, features: Sequence[str], weight: str | None, test_fraction: float,
              val_fraction: float, epochs: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise BadInputError(f"the number of events to generate must be a positive integer, "
                            f"got N = {n}")
    if not features:
        raise BadInputError("no features given (e.g. --features m_ll,pT_ll)")
    if not weight:
        raise BadInputError("no weight branch given: unweighting needs the event weights "
                            "(--weight)")
    if weight in features:
        raise BadInputError(f"the weight branch {weight!r} is also listed as a feature")
    for what, frac in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 < frac < 1:
            raise BadInputError(f"{what} must be in (0, 1), got {frac}")
    if epochs < 1:
        raise BadInputError(f"epochs must be >= 1, got {epochs}")


def unweight(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    features: Sequence[str] | str,
    weight: str,
    n: int,
    output: str | os.PathLike,
    tree: str = "events",
    cut: str | None = None,
    model: str | os.PathLike | None = None,
    model_out: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    kind: str = "nsf",
    base: str = "normal",
    nu: float = 1.0,
    transforms: int = 4,
    hidden: Sequence[int] = (64, 64),
    bins: int = 8,
    positive: Sequence[str] | str | None = "auto",
    discrete: Sequence[str] | str | None = "auto",
    bounds: Mapping[str, Sequence[float]] | None = None,
    epochs: int = 40,
    batch_size: int = 2048,
    lr: float = 2e-3,
    patience: int = 40,
    test_fraction: float = 0.25,
    val_fraction: float = 0.2,
    seed: int = 0,
    device: str = "auto",
    atom_fraction: float = 0.02,
    marginal_maps: bool = True,
    split_on: Sequence[str] | str = (),
    members: int = 1,
    report_bins: int = 30,
    folds: int = 5,
    plots: bool = True,
    force: bool = False,
) -> UnweightResult:
    r"""Trains a flow on weighted events (or loads one) and writes N unit-weight events.

    Every output event has the weight ``sigma / n`` (``sigma`` = sum of the input weights) in a
    branch named like the input weight branch; the features keep their branch names and the
    TTree its name.

    Arguments:
        inputs: ROOT or LHE (``.lhe``, ``.lhe.gz``, converted on the fly) file(s).
        features: Flat branches to model (list or comma-separated string).
        weight: The event-weight branch (negative weights allowed, positive sum).
        n: Number of unweighted events to write (> 0).
        output: The output ROOT file.
        tree: TTree name (for LHE inputs: the name given to the converted tree).
        cut: Optional selection (uproot expression) applied before anything else.
        model: Directory of a saved flow to use instead of training.
        model_out: Where to save the trained flow (default ``<OUT stem>_model`` next to
            ``output``); ignored with ``model``.
        report: Directory for ``summary.json`` and the plots (None: no report).
        kind: Flow kind, ``"nsf"``, ``"maf"``, ``"realnvp"`` or ``"cnf"``.
        base, nu: Base distribution of the flow (``"normal"`` or ``"studentt"`` with ``nu``).
        transforms: Autoregressive transforms of the flow.
        hidden: Hidden layer sizes of each transform.
        bins: Spline bins.
        positive: Strictly positive features (log map); ``"auto"``: those with min > 0.
        discrete: Integer features (dequantised); ``"auto"``: all-integer columns with at most
            50 distinct values.
        bounds: ``{feature: (low, high)}`` for bounded features (logit map).
        epochs: Training epochs: the learning rate is cosine-annealed from ``lr`` to
            ``lr / 100`` over them, and the epoch of lowest weighted validation loss is kept.
            The defaults (40 epochs at lr 2e-3, batch 2048, patience 40, i.e. the whole
            schedule) unweight the 200k-event nlo toy into 1e6 events in about 2.5 minutes
            on one core and pass its truth check for seeds 0, 1, 2 (the earlier 200 epochs at
            lr 1e-3, batch 1024, patience 20 took about 29 minutes; an early stop while the
            rate is still high leaves the flow noisier, benchmarks/bench_laptop.py).
        batch_size: Training mini-batch size (lower it for samples of a few thousand events,
            e.g. 512 in analyses/unweight_fxfx.yaml).
        lr: Initial learning rate.
        patience: Early-stopping patience in epochs.
        test_fraction: Fraction of the events held out for the report (never trained on).
        val_fraction: Fraction of the remaining events used for early stopping.
        seed: Seeds the split, the flow, the sampling, the baselines and the classifier test.
        device: ``auto``, ``cpu`` or ``cuda``.
        atom_fraction: A continuous feature with one value held by at least this fraction of
            the events (e.g. pT = 0 without real emission) splits the events into categories,
            one flow each (see :mod:`.model`); 0 disables.
        marginal_maps: Map each continuous feature onto its empirical CDF in (0, 1) (knots at
            training quantiles, log first for positive features) before the flow
            (:class:`~flowstats.unweighting.model.MarginalMap`).
        split_on: Integer features whose every value gets its own category and flow (exact
            weighted fractions of each value) instead of dequantisation, e.g. a jet
            multiplicity with few values.
        members: Flows per category (different seeds), sampled as an equal mixture.
        report_bins: Bins per feature in the report's chi2 tests.
        folds: Folds of the classifier two-sample test.
        plots: Whether the report includes PNG plots.
        force: Replace existing outputs.

    References:
        B. Stienen and R. Verheyen, SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
    """
    from ..io import read_events, write_events
    from .model import UnweightModel

    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    if isinstance(features, str):
        features = [f for f in features.split(",") if f]
    features = [str(f) for f in features]
    _validate(n, features, weight, test_fraction, val_fraction, epochs)
    n = int(n)
    seed = int(seed)
    output = Path(output)
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    input_paths = {Path(p).resolve() for p in paths if Path(p).exists()}
    if output.resolve() in input_paths:
        raise BadInputError(f"the output {str(output)!r} is also an input; inputs are never "
                            "modified")
    check_output(output, force)
    model_out = None if model is not None else Path(model_out or default_model_path(output))
    if model_out is not None:
        check_output(model_out, force)
        if model_out.exists() and not ((model_out / "unweight_model.json").is_file()
                                       or (model_out / "config.json").is_file()):
            raise BadInputError(f"{str(model_out)!r} exists and is not a flowstats model "
                                "directory; refusing to replace it")
    if report is not None:
        from .report import check_report_dir

        report = check_report_dir(report, force)
    if model is not None and not Path(model).is_dir():
        raise BadInputError(f"model directory {str(model)!r} does not exist")
    device = resolve_device(device)

    # ---- read and check the input (raises on missing branches, NaN, sum w <= 0, ...)
    t0 = time.perf_counter()
    events = read_events(paths, tree, features, weight, cut)
    timings["read_s"] = time.perf_counter() - t0
    x, w = events.x, events.weights
    sigma = float(w.sum())
    notes: list[str] = []
    if np.all(w > 0):
        notes.append("all input weights are positive: there are no negative weights to remove; "
                     "the flow still unweights (variable weights -> unit weights)")
        log.warning("all %d input weights are positive; unweighting anyway", len(w))
    input_negative = _negative_regions(x, w, features, report_bins)
    if input_negative:
        notes.append("the weighted input density is significantly negative in some bins "
                     f"of {sorted(input_negative)} (input_negative_density_bins): a flow (a "
                     "positive density) cannot reproduce those regions")
    train_idx, test_idx = split_indices(len(x), test_fraction, seed)
    if len(test_idx) < 1 or len(train_idx) < 2:
        raise BadInputError(f"{len(x)} events are too few to split off test_fraction="
                            f"{test_fraction}")
    x_train, w_train = x[train_idx], w[train_idx]
    x_test, w_test = x[test_idx], w[test_idx]
    if report is not None and w_test.sum() <= 0:
        raise BadInputError(f"the {len(test_idx)} test events have a sum of weights "
                            f"{w_test.sum():.4g} <= 0; use more events or a larger "
                            "test_fraction")
    discrete_names = _names_option(discrete, "discrete feature", features,
                                   detect_discrete(x, features))
    split_names = _names_option(split_on if split_on else [], "split_on feature", features, [])
    bad = [f for f in split_names if f not in detect_discrete(x, features)]
    if bad:
        raise BadInputError(f"split_on features {bad} are not integer valued with at most "
                            f"{MAX_DISCRETE_VALUES} distinct values")
    discrete_names = [f for f in discrete_names if f not in split_names]
    if isinstance(positive, str) and positive == "auto":
        positive_names: list[str] | str = "auto"
    else:
        positive_names = _names_option(positive, "positive feature", features, [])
        bad = [p for p in positive_names if x[:, features.index(p)].min() <= 0]
        if bad:
            raise BadInputError(f"positive (log-mapped) features {bad} have values <= 0")

    # ---- the model: load or train (one flow per category of point masses)
    histories: dict[str, Any] = {}
    if model is not None:
        umodel = UnweightModel.load(model, features=features, device=device)
        notes.append("model loaded from --model: the test events are held out only if the "
                     "model was trained by flowstats unweight on the same input and seed")
        model_config: dict[str, Any] = {"loaded_from": str(model)}
    else:
        flow_options = {"kind": kind, "transforms": transforms, "hidden": tuple(hidden),
                        "bins": bins, "base": base, "nu": nu}
        fit_options = {"epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "val_fraction": val_fraction, "patience": patience, "device": device}
        t0 = time.perf_counter()
        umodel = UnweightModel.fit(x_train, w_train, features, discrete=discrete_names,
                                   positive=positive_names, bounds=bounds,
                                   atom_fraction=atom_fraction,
                                   marginal_maps=marginal_maps, split_on=split_names,
                                   members=members,
                                   flow_options=flow_options,
                                   fit_options=fit_options, seed=seed)
        timings["train_s"] = time.perf_counter() - t0
        histories = umodel.histories
        model_config = {**flow_options, "hidden": list(hidden), "discrete": discrete_names,
                        "positive": positive_names, "bounds": dict(bounds or {}),
                        "atom_fraction": atom_fraction, "marginal_maps": marginal_maps,
                        "split_on": split_names, "members": members}
        for drop in umodel.dropped:
            notes.append(f"category {drop['label']} dropped ({drop['n_train']} training events, "
                         f"weighted fraction {drop['fraction']:.4f}): too few events or a "
                         "non-positive cross-section; the other categories are scaled up")
        log.info("trained in %.1f s", timings["train_s"])
    model_config["categories"] = umodel.describe()["categories"]
    model_config["atoms"] = umodel.atoms
    if umodel.atoms:
        notes.append(f"point masses {umodel.atoms}: one flow per category "
                     f"({len(umodel.categories)} categories)")

    # ---- generate and write
    t0 = time.perf_counter()
    x_gen = umodel.sample(n, seed=seed + 1)
    timings["sample_s"] = time.perf_counter() - t0
    timings["sample_rate_per_s"] = n / max(timings["sample_s"], 1e-9)
    unit = sigma / n
    w_gen = np.full(n, unit)
    columns: dict[str, np.ndarray] = {}
    for k, name in enumerate(features):
        columns[name] = x_gen[:, k].astype(np.int32) if name in discrete_names else x_gen[:, k]
    columns[weight] = w_gen
    config = {"inputs": [str(p) for p in paths], "tree": tree, "features": features,
              "weight": weight, "n": n, "cut": cut, "model": None if model is None
              else str(model), "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "patience": patience, "test_fraction": test_fraction,
              "val_fraction": val_fraction, "device": device, **model_config}
    prov = provenance(seed, config)
    t0 = time.perf_counter()
    write_events(output, tree, columns, force=force, metadata=prov)
    if model_out is not None:
        umodel.save(model_out, force=force)
    timings["write_s"] = time.perf_counter() - t0

    summary: dict[str, Any] = {
        "input": {"paths": [str(p) for p in paths], "tree": tree, "features": features,
                  "weight": weight, "n": len(x), "sum_weights": sigma,
                  "negative_fraction": float(np.mean(w < 0)), "n_eff": float(events.n_eff),
                  "all_weights_positive": bool(np.all(w > 0))},
        "split": {"seed": seed, "test_fraction": test_fraction, "val_fraction": val_fraction,
                  "n_train_and_val": len(train_idx), "n_test": len(test_idx)},
        "input_negative_density_bins": input_negative,
        "output": {"path": str(output), "n": n, "weight_per_event": unit,
                   "sum_weights": float(w_gen.sum())},
        "model": {"path": str(model if model is not None else model_out),
                  "loaded": model is not None, **model_config},
        "training": {label: _history_summary(h) for label, h in histories.items()},
        "seeds": {"split": seed, "flow": seed, "sample": seed + 1, "baselines": seed,
                  "classifier": seed},
        "notes": notes,
    }

    if report is not None:
        from .evaluate import evaluate
        from .report import write_report

        t0 = time.perf_counter()
        ev = evaluate(features, x_test, w_test, x_gen, w_gen, x_train, w_train,
                      discrete=[*discrete_names, *split_names], bins=report_bins, folds=folds,
                      seed=seed)
        timings["evaluate_s"] = time.perf_counter() - t0
        s = ev.summary
        summary.update({
            "test": s["test"],
            "features": s["flow"]["features"],
            "pairs": s["flow"]["pairs"],
            "classifier": s["flow"].get("classifier"),
            "chi2_sum": s["flow"]["chi2_sum"], "ndf_sum": s["flow"]["ndf_sum"],
            "min_p_value": s["flow"]["min_p_value"],
            "baselines": {"drop_negatives": s["drop_negatives"],
                          "hit_or_miss": s["hit_or_miss"]},
            "negative_density_bins": s["negative_density_bins"],
            "chi2_bins": report_bins,
        })
        if s["negative_density_bins"]:
            notes.append("the weighted test density is significantly negative in some bins "
                         "(negative_density_bins): a flow cannot reproduce those")
        timings["total_s"] = time.perf_counter() - t_start
        summary["timings"] = timings
        summary["provenance"] = prov
        t0 = time.perf_counter()
        write_report(report, summary, features, ev, x_test, w_test, histories or None,
                     force=force, plots=plots)
        timings["report_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    summary["timings"] = timings
    summary["provenance"] = prov
    log.info("wrote %d unweighted events (weight %.6g each) to %s", n, unit, output)
    return UnweightResult(output=output, n=n, sigma=sigma, weight=unit, model=model_out,
                          report=report, summary=summary)
