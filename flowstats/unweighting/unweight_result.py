r"""What :func:`flowstats.unweight` returns, and what :func:`flowstats.load_result` reads back
from a report directory: :class:`UnweightResult`, with the report's numbers as attributes.

Example::

    result = flowstats.unweight("nlo.root", features=["pt", "y"], weight="weight", n=20000,
                                output="out.root", report="report")
    result.features                  # DataFrame: chi2, ndf, p_value, chi2_ndf per feature
    result.classifier_auc            # the classifier two-sample test
    result.worth.n_eq, result.worth.n_eq_lower_limit, result.worth.m_star
    result.worth.recommendation["text"]  # whether unweighting pays, how many events to ask for
    result.comparison                # the flow and the baselines side by side
    flowstats.load_result("report")  # the same numbers, from report/summary.json
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import BadInputError, DamagedFileError, InputFileNotFoundError

__all__ = ["UnweightResult", "Worth", "is_report_directory"]

#: the samples of the report's comparison: the flow and the baselines
SAMPLES = ("flow", "drop_negatives", "hit_or_miss")


def is_report_directory(directory: str | os.PathLike) -> bool:
    r"""Whether ``directory`` holds an unweighting report (a ``summary.json`` with the
    ``input``, ``split`` and ``output`` blocks).

    Arguments:
        directory: The directory.
    """
    path = Path(directory) / "summary.json"
    if not path.is_file():
        return False
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return False
    return isinstance(summary, dict) and {"input", "split", "output"} <= set(summary)


@dataclass(frozen=True)
class Worth:
    r"""What the generated sample is worth (the report's ``worth.summary``, :mod:`.worth`).

    Arguments:
        n_eq: Equivalent number of true events of the generated sample.
        n_eq_error: Its standard error.
        n_eq_lower_limit: Its lower limit at ``confidence``.
        n_eq_inf: Its limit for infinitely many generated events (None: the bias is not
            resolved, only the lower limit is quoted).
        n_eq_inf_lower_limit: The lower limit of ``n_eq_inf``.
        m_star: Generated events beyond which generating more adds at most 10 % (None when
            unresolved).
        m_star_lower_limit: Its lower limit.
        amplification: ``n_eq`` over the training sample's equivalent events (None without
            them).
        amplification_lower_limit: Its lower limit.
        n_generated: The generated events the figures are for.
        binning: The binning the figures come from (the most conservative).
        confidence: Confidence level of the lower limits.
        recommendation: Whether unweighting pays and how many events to ask for (the
            block's ``recommendation``, :func:`~flowstats.unweighting.worth.recommendation`:
            ``amplification``, ``m_match``, ``saving``, ``m_recommended``, ``text``, with
            their errors and limits; None without training events or in older reports).
        details: The whole ``worth`` block of the report.
    """

    n_eq: float | None
    n_eq_error: float | None
    n_eq_lower_limit: float | None
    n_eq_inf: float | None
    n_eq_inf_lower_limit: float | None
    m_star: float | None
    m_star_lower_limit: float | None
    amplification: float | None
    amplification_lower_limit: float | None
    n_generated: int | None
    binning: str | None
    confidence: float | None
    recommendation: dict[str, Any] | None = field(default=None, repr=False)
    details: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_block(cls, block: dict[str, Any]) -> Worth:
        r"""From the report's ``worth`` block.

        Arguments:
            block: ``summary["worth"]``.
        """
        s = block.get("summary") or {}
        return cls(n_eq=s.get("n_eq"), n_eq_error=s.get("n_eq_error"),
                   n_eq_lower_limit=s.get("n_eq_lower_limit"), n_eq_inf=s.get("n_eq_inf"),
                   n_eq_inf_lower_limit=s.get("n_eq_inf_lower_limit"), m_star=s.get("m_star"),
                   m_star_lower_limit=s.get("m_star_lower_limit"),
                   amplification=s.get("amplification"),
                   amplification_lower_limit=s.get("amplification_lower_limit"),
                   n_generated=s.get("n_generated", block.get("n_generated")),
                   binning=s.get("binning"), confidence=block.get("confidence"),
                   recommendation=block.get("recommendation"), details=block)


def _table(entries: dict[str, dict[str, Any]], index: str) -> Any:
    import pandas as pd

    rows = [{index: name, **{k: v for k, v in values.items()
                             if v is None or isinstance(v, (bool, int, float, str))}}
            for name, values in entries.items()]
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    return pd.DataFrame.from_records(rows, columns=list(columns) or [index]).set_index(index)


@dataclass
class UnweightResult:
    r"""What :func:`~flowstats.unweighting.job.unweight` produced, with the report's numbers.

    The first fields are the run's; the properties read ``summary`` (those of the test
    comparison need a report: ``report=DIR``, else they raise :class:`BadInputError`).
    ``result["key"]`` is ``result.summary["key"]``.

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

    @classmethod
    def load(cls, directory: str | os.PathLike) -> UnweightResult:
        r"""The result recorded in a report directory (its ``summary.json``).

        Arguments:
            directory: The report directory (``report=`` / ``--report`` of the run).
        """
        directory = Path(directory)
        path = directory / "summary.json"
        if not directory.exists():
            raise InputFileNotFoundError(str(directory))
        if not path.is_file():
            raise BadInputError(f"{directory}: not an unweighting report directory (no "
                                "summary.json)")
        try:
            summary = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise DamagedFileError(str(path), f"not valid JSON: {err}") from None
        if not (isinstance(summary, dict) and {"input", "split", "output"} <= set(summary)):
            raise BadInputError(f"{path}: not an unweighting report (no input, split and "
                                "output blocks)")
        out, model = summary["output"], summary.get("model") or {}
        return cls(output=Path(out["path"]), n=int(out["n"]),
                   sigma=float(summary["input"]["sum_weights"]),
                   weight=float(out["weight_per_event"]),
                   model=None if model.get("loaded") or not model.get("path")
                   else Path(model["path"]),
                   report=directory, summary=summary)

    def __getitem__(self, key: str) -> Any:
        return self.summary[key]

    def _report(self, key: str) -> Any:
        if key not in self.summary:
            raise BadInputError(f"the unweighting has no {key!r}: it ran without a report "
                                "(report=DIR, --report DIR)")
        return self.summary[key]

    @property
    def report_dir(self) -> Path | None:
        r"""The report directory (``report``), or None."""
        return self.report

    @property
    def input(self) -> dict[str, Any]:
        r"""The input: ``n``, ``sum_weights``, ``negative_fraction``, ``n_eff``, ..."""
        return self.summary["input"]

    @property
    def split(self) -> dict[str, Any]:
        r"""How the events were split: ``seed``, ``test_fraction``, ``val_fraction``,
        ``n_train_and_val``, ``n_test``."""
        return self.summary["split"]

    @property
    def test(self) -> dict[str, Any]:
        r"""The held-out test events every comparison uses: ``n``, ``sum_weights``,
        ``negative_fraction``, ``n_eff``."""
        return self._report("test")

    @property
    def notes(self) -> list[str]:
        r"""What the run noticed (negative-density bins, categories, ...)."""
        return list(self.summary.get("notes") or [])

    def feature_table(self, sample: str = "flow") -> Any:
        r"""The per-feature chi2 test of one sample against the test events.

        Arguments:
            sample: ``"flow"`` (the generated events), ``"drop_negatives"`` or
                ``"hit_or_miss"`` (the baselines).

        Returns:
            A pandas DataFrame, indexed by feature, with the columns ``chi2``, ``ndf``,
            ``p_value``, ``chi2_ndf``.
        """
        if sample == "flow":
            return _table(self._report("features"), "feature")
        baselines = self.baselines
        if sample not in baselines:
            raise BadInputError(f"no sample {sample!r}; the samples are "
                                + ", ".join(["flow", *baselines]))
        return _table(baselines[sample]["features"], "feature")

    @property
    def features(self) -> Any:
        r"""The per-feature chi2 test of the generated events against the test events: a
        pandas DataFrame indexed by feature (``chi2``, ``ndf``, ``p_value``, ``chi2_ndf``)."""
        return self.feature_table("flow")

    @property
    def pairs(self) -> Any:
        r"""The chi2 test of each pair of features (2-D), a DataFrame indexed by pair
        (``"a:b"``)."""
        return _table(self._report("pairs"), "pair")

    @property
    def observables(self) -> Any:
        r"""Whole events (mode ``"events"``): the chi2 test of each observable, a DataFrame
        indexed by observable; None in mode ``"features"``."""
        if "observables" not in self.summary:
            return None
        return _table(self.summary["observables"], "observable")

    @property
    def categories(self) -> dict[str, Any] | None:
        r"""Whole events (mode ``"events"``): the categories' weighted fractions, held-out
        (``test``) and generated, with their ``chi2``; None in mode ``"features"``."""
        return self.summary.get("categories")

    @property
    def negative_regions(self) -> dict[str, Any] | None:
        r"""Whole events (mode ``"events"``): the regions whose weighted sum is negative
        (``dropped_templates``: flavour layouts never generated); None in mode
        ``"features"``."""
        return self.summary.get("negative_regions")

    @property
    def chi2_sum(self) -> float:
        r"""The sum of the per-feature chi2 of the generated events."""
        return self._report("chi2_sum")

    @property
    def ndf_sum(self) -> int:
        r"""The sum of their degrees of freedom."""
        return self._report("ndf_sum")

    @property
    def min_p_value(self) -> float:
        r"""The smallest per-feature p-value of the generated events."""
        return self._report("min_p_value")

    @property
    def classifier(self) -> dict[str, Any] | None:
        r"""The classifier two-sample test (generated against test events): ``auc``,
        ``auc_error``, ``fold_aucs``, ..."""
        return self._report("classifier")

    @property
    def classifier_auc(self) -> float | None:
        r"""The weighted AUC of the classifier two-sample test (0.5: indistinguishable)."""
        return None if self.classifier is None else self.classifier.get("auc")

    @property
    def classifier_auc_error(self) -> float | None:
        r"""Its standard error."""
        return None if self.classifier is None else self.classifier.get("auc_error")

    @property
    def baselines(self) -> dict[str, Any]:
        r"""The baselines' blocks: ``drop_negatives`` (a) and ``hit_or_miss`` (b), each with
        ``features``, ``pairs``, ``chi2_sum``, ``min_p_value``, ``classifier``, ``n_eff``."""
        return self._report("baselines")

    @property
    def comparison(self) -> Any:
        r"""The flow and the baselines side by side: a DataFrame indexed by sample
        (``flow``, ``drop_negatives``, ``hit_or_miss``) with ``n``, ``n_eff``, ``chi2_sum``,
        ``ndf_sum``, ``min_p_value``, ``auc``, ``auc_error``."""
        import pandas as pd

        out = self.summary["output"]
        entries = {"flow": {"n": out["n"], "n_eff": out["n"], "chi2_sum": self.chi2_sum,
                            "ndf_sum": self.ndf_sum, "min_p_value": self.min_p_value,
                            "classifier": self.classifier},
                   **self.baselines}
        rows = []
        for name, e in entries.items():
            clf = e.get("classifier") or {}
            rows.append({"sample": name, "n": e.get("n"), "n_eff": e.get("n_eff"),
                         "chi2_sum": e.get("chi2_sum"), "ndf_sum": e.get("ndf_sum"),
                         "min_p_value": e.get("min_p_value"), "auc": clf.get("auc"),
                         "auc_error": clf.get("auc_error")})
        return pd.DataFrame.from_records(rows).set_index("sample")

    @property
    def negative_density_bins(self) -> dict[str, Any]:
        r"""Bins of the test events where the weighted density is significantly negative."""
        return self._report("negative_density_bins")

    @property
    def worth(self) -> Worth:
        r"""What the generated sample is worth: :class:`Worth` (``n_eq`` with its error and
        lower limit, ``n_eq_inf``, ``m_star``, ``amplification``; ``details`` the block)."""
        return Worth.from_block(self._report("worth"))

    @property
    def timings(self) -> dict[str, float]:
        r"""Seconds per stage."""
        return dict(self.summary.get("timings") or {})
