r"""A bump hunt as an analysis script holds it: :class:`BumpHunt` runs one, :class:`BumpHuntResult`
is its result (or that of a finished output directory, :func:`flowstats.load_result`).

Example::

    import flowstats

    result = flowstats.BumpHunt("analyses/bumphunt_dijet.yaml").run(output="hunt")
    result = flowstats.load_result("hunt")              # the same, from the directory
    result.windows                                      # pandas DataFrame, one row per window and efficiency
    result.z_global
    ws = result.workspace(3300, 3700, 0.2)              # pyhf.Workspace
    h = result.spectrum(3300, 3700, 0.2)                # hist.Hist of the selected m spectrum
    result.plot_significance().savefig("z_local.png")

Windows and efficiencies are matched within a relative tolerance
(:func:`~flowstats.bumphunt.windows.same_value`), never by float equality.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import (
    BadInputError,
    ConfigError,
    DamagedFileError,
    InputFileNotFoundError,
    WorkspaceError,
)
from .windows import same_value

__all__ = ["BumpHunt", "BumpHuntResult", "LEADING_COLUMNS", "is_bumphunt_directory"]

#: the first columns of :attr:`BumpHuntResult.windows`, always present and in this order
LEADING_COLUMNS = ["sr_low", "sr_high", "efficiency", "z_local", "status", "n_selected", "n_sr",
                   "background", "background_unc", "p_local"]
#: further columns, in this order when a row has them; any other scalar field of the rows
#: follows in the order of its first appearance
_ORDER = ["n_sr_total", "log10_p_local", "q0", "z_expected", "signal_per_event_in_sr",
          "mu_hat", "mu_upper_obs", "mu_upper_exp_m2", "mu_upper_exp_m1", "mu_upper_exp_median",
          "mu_upper_exp_p1", "mu_upper_exp_p2", "fit_low", "fit_high", "fit_chi2", "fit_ndf",
          "fit_pvalue", "fit_function", "in_global"]
#: the expected CLs limits' band, -2 to +2 sigma
_BAND = ("m2", "m1", "median", "p1", "p2")


def is_bumphunt_directory(directory: str | os.PathLike) -> bool:
    r"""Whether ``directory`` holds a finished bump hunt (``summary.json`` and ``scores.root``).

    Arguments:
        directory: The directory.
    """
    directory = Path(directory)
    return (directory / "summary.json").is_file() and (directory / "scores.root").is_file()


def _plain(summary: Mapping[str, Any]) -> dict[str, Any]:
    r"""``summary`` as ``summary.json`` holds it (numpy values, tuples: JSON types)."""
    from .._utils import _json_default

    return json.loads(json.dumps(summary, default=_json_default, allow_nan=True))


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    r"""The scalar fields of a summary row (``sr``, ``fit_range`` and ``mu_upper_exp`` split)."""
    out: dict[str, Any] = {"sr_low": row["sr"][0], "sr_high": row["sr"][1]}
    for key, value in row.items():
        if key == "sr":
            continue
        if key == "fit_range" and isinstance(value, list) and len(value) == 2:
            out["fit_low"], out["fit_high"] = value
        elif key == "mu_upper_exp" and isinstance(value, list) and len(value) == len(_BAND):
            out.update({f"mu_upper_exp_{b}": v for b, v in zip(_BAND, value)})
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


def _columns(flat: Sequence[Mapping[str, Any]]) -> list[str]:
    present: dict[str, None] = {}
    for r in flat:
        present.update(dict.fromkeys(r))
    known = [*LEADING_COLUMNS, *_ORDER]
    return [*LEADING_COLUMNS, *(c for c in _ORDER if c in present),
            *(c for c in present if c not in known)]


def _window_text(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g}"


class _SummaryValue:
    r"""A read-only attribute of a :class:`BumpHuntResult`: the summary's value of the same
    name (None where the summary lacks it)."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, result: Any, owner: type | None = None) -> Any:
        return self if result is None else result.summary.get(self.key)


class BumpHuntResult:
    r"""The result of a bump hunt: its summary, tables, workspaces, spectra and plots.

    Made by :meth:`BumpHunt.run` (from the run's summary, nothing is read back) or from a
    finished output directory (:meth:`load`, :func:`flowstats.load_result`); both give equal
    results. The numbers are those of ``summary.json``; :attr:`windows` tabulates its rows.

    Arguments:
        directory: The output directory of the run (``summary.json``, ``scores.root``,
            ``workspaces/``).
        summary: The run's summary (:func:`~flowstats.bumphunt.scan.run_bumphunt`'s return
            value); None: read ``directory/summary.json``.
    """

    def __init__(self, directory: str | os.PathLike,
                 summary: Mapping[str, Any] | None = None) -> None:
        self.directory = Path(directory)
        if summary is None:
            summary = _read_summary(self.directory)
        if not isinstance(summary, Mapping) or not isinstance(summary.get("windows"), list):
            raise BadInputError(f"{self.directory}: not a bump-hunt summary (no 'windows' rows)")
        #: the summary, as ``summary.json`` holds it
        self.summary: dict[str, Any] = _plain(summary)
        self._table: Any = None

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BumpHuntResult:
        r"""The result of the finished bump hunt in ``directory``.

        Arguments:
            directory: The run's output directory.
        """
        return cls(directory)

    # ---------------------------------------------------------------- numbers
    def __getitem__(self, key: str) -> Any:
        return self.summary[key]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BumpHuntResult):
            return NotImplemented
        return (self.directory.resolve() == other.directory.resolve()
                and _canonical(self.summary) == _canonical(other.summary))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"BumpHuntResult({str(self.directory)!r}: {len(self.signal_regions)} windows x "
                f"{len(self.efficiencies)} efficiencies, z_global={self.z_global})")

    @property
    def configuration(self) -> dict[str, Any]:
        r"""The resolved configuration of the run (``summary["provenance"]["config"]``)."""
        return dict((self.summary.get("provenance") or {}).get("config") or {})

    @property
    def mass(self) -> str:
        r"""Name of the resonant feature."""
        return str(self.configuration.get("mass") or "m")

    @property
    def efficiencies(self) -> list[float]:
        r"""The efficiencies of the selections (1.0, without a cut, first)."""
        return list(self.summary.get("efficiencies")
                    or sorted({r["efficiency"] for r in self.summary["windows"]}, reverse=True))

    @property
    def signal_regions(self) -> list[tuple[float, float]]:
        r"""The windows ``(sr_low, sr_high)``, in the order of the scan."""
        out: list[tuple[float, float]] = []
        for r in self.summary["windows"]:
            window = (r["sr"][0], r["sr"][1])
            if window not in out:
                out.append(window)
        return out

    def _get(self, key: str) -> Any:
        return self.summary.get(key)

    z_global = _SummaryValue(
        "The global significance of the most significant window (NaN without a result).")
    p_global = _SummaryValue("The global p-value.")
    log10_p_global = _SummaryValue(
        "log10 of the global p-value (finite where the p-value underflows); None when no window "
        "has a result.")
    global_method = _SummaryValue("How the global significance was computed.")
    z_max_local = _SummaryValue("The largest local significance of the scan.")
    p_local_min = _SummaryValue("The smallest local p-value of the scan.")
    log10_p_local_min = _SummaryValue("log10 of the smallest local p-value.")
    best_efficiency = _SummaryValue("The efficiency of the most significant window.")
    n_poor_fits_in_global = _SummaryValue(
        "The rows with a poor sideband fit that entered the global significance.")
    n_events = _SummaryValue("The number of events read.")
    closure = _SummaryValue(
        "The closure block (``verdict``, ``min_p_value``, ``threshold``, ``rows``, ...), or None "
        "when the run had no closure check.")

    @property
    def best_window(self) -> tuple[float, float] | None:
        r"""The most significant window ``(sr_low, sr_high)``."""
        best = self._get("best_window")
        return None if best is None else (best[0], best[1])

    @property
    def global_by_efficiency(self) -> dict[str, Any]:
        r"""The global significance of each efficiency's scan (keys: the efficiency, ``%g``)."""
        return dict(self._get("global_by_efficiency") or {})

    @property
    def n_windows_skipped(self) -> int:
        r"""The number of windows that could not be scored."""
        return int(self._get("n_windows_skipped") or 0)

    @property
    def closure_verdict(self) -> str | None:
        r"""``"pass"``, ``"sculpts"`` or ``"untested"``; None without a closure check."""
        return None if self.closure is None else self.closure.get("verdict")

    @property
    def closure_table(self) -> Any:
        r"""The closure rows as a pandas DataFrame (``sr_low``, ``sr_high``, ``efficiency``,
        ``p_value``, ``sculpts``, ...: the scalar fields); None without a closure check."""
        import pandas as pd

        if self.closure is None:
            return None
        flat = [_flat(r) for r in self.closure.get("rows", [])]
        first = ["sr_low", "sr_high", "efficiency"]
        rest: dict[str, None] = {}
        for r in flat:
            rest.update(dict.fromkeys(k for k in r if k not in first))
        return pd.DataFrame.from_records(flat, columns=[*first, *rest])

    @property
    def windows(self) -> Any:
        r"""The summary rows as a pandas DataFrame: one row per window and efficiency, in the
        order of ``summary.json``.

        Columns: :data:`LEADING_COLUMNS` (``sr_low``, ``sr_high``, ``efficiency``, ``z_local``,
        ``status``, ``n_selected``, ``n_sr``, ``background``, ``background_unc``,
        ``p_local``), then every other scalar field of the rows (``fit_range`` as ``fit_low``,
        ``fit_high``; ``mu_upper_exp`` as ``mu_upper_exp_m2`` ... ``mu_upper_exp_p2``, -2 to
        +2 sigma), NaN where a row lacks one.
        """
        import pandas as pd

        if self._table is None:
            flat = [_flat(r) for r in self.summary["windows"]]
            self._table = pd.DataFrame.from_records(flat, columns=_columns(flat))
        return self._table.copy()

    def windows_at(self, efficiency: float) -> Any:
        r"""The rows of :attr:`windows` at one efficiency (matched within a relative tolerance
        of 1e-6), in the order of the scan.

        Arguments:
            efficiency: The selection efficiency (1.0: no cut).

        Raises:
            BadInputError: No such efficiency; the message lists those there are.
        """
        match = [e for e in self.efficiencies if same_value(e, efficiency)]
        if not match:
            raise BadInputError(f"{self.directory}: no efficiency {efficiency:g}; the "
                                "efficiencies are " + ", ".join(f"{e:g}" for e in
                                                                self.efficiencies))
        table = self.windows
        keep = [same_value(e, match[0]) for e in table["efficiency"]]
        return table[keep]

    def _index(self, sr_low: float, sr_high: float, efficiency: float) -> int:
        rows = self.summary["windows"]
        for i, r in enumerate(rows):
            if (same_value(r["sr"][0], sr_low) and same_value(r["sr"][1], sr_high)
                    and same_value(r["efficiency"], efficiency)):
                return i
        windows = ", ".join(_window_text(*w) for w in self.signal_regions)
        mine = [r["efficiency"] for r in rows
                if same_value(r["sr"][0], sr_low) and same_value(r["sr"][1], sr_high)]
        if not mine:
            raise BadInputError(f"{self.directory}: no window {_window_text(sr_low, sr_high)}; "
                                f"the windows are {windows}")
        raise BadInputError(f"{self.directory}: window {_window_text(sr_low, sr_high)} has no "
                            f"efficiency {efficiency:g}; its efficiencies are "
                            + ", ".join(f"{e:g}" for e in mine))

    def row(self, sr_low: float, sr_high: float, efficiency: float) -> dict[str, Any]:
        r"""The summary row of one window at one efficiency (a copy).

        Arguments:
            sr_low, sr_high: The window (matched within a relative tolerance of 1e-6).
            efficiency: The selection efficiency (1.0: no cut), matched likewise.

        Raises:
            BadInputError: No such window or efficiency; the message lists those there are.
        """
        import copy

        return copy.deepcopy(self.summary["windows"][self._index(sr_low, sr_high, efficiency)])

    def _tag(self, sr_low: float, sr_high: float, efficiency: float) -> tuple[str, dict]:
        from .outputs import _tag as tag_of

        row = self.summary["windows"][self._index(sr_low, sr_high, efficiency)]
        # the stored values give the name the run wrote
        return tag_of((row["sr"][0], row["sr"][1]), row["efficiency"]), row

    # ---------------------------------------------------------------- files
    def workspace(self, sr_low: float, sr_high: float, efficiency: float) -> Any:
        r"""The pyhf workspace of one window at one efficiency (``workspaces/<tag>.json``):
        the single-bin counting model whose observation is the row's ``n_sr`` and whose
        background is its ``background`` (scaled to effective counts for weighted events).

        Arguments:
            sr_low, sr_high: The window.
            efficiency: The selection efficiency.

        Returns:
            A :class:`pyhf.Workspace`.

        Raises:
            WorkspaceError: The row has no workspace (its fit failed: see its ``status``).
        """
        import pyhf

        tag, row = self._tag(sr_low, sr_high, efficiency)
        path = self.directory / "workspaces" / f"{tag}.json"
        if not path.is_file():
            raise WorkspaceError(f"{path}: no workspace for window "
                                 f"{_window_text(*row['sr'])} at efficiency "
                                 f"{row['efficiency']:g} (status: {row.get('status')})")
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise DamagedFileError(str(path), f"not valid JSON: {err}") from None
        return pyhf.Workspace(spec)

    def _histogram(self, key: str, what: str, required: bool) -> Any:
        import hist
        import uproot

        path = self.directory / "scores.root"
        if not path.is_file():
            raise InputFileNotFoundError(str(path), "the bump hunt's histograms are in it")
        with uproot.open(path) as f:
            if key not in f:
                if not required:
                    return None
                raise BadInputError(f"{path}: no histogram {key!r} ({what})")
            h = f[key].to_hist()
        old = h.axes[0]
        label = f"{self.mass} [GeV]"
        if isinstance(old, hist.axis.Regular):
            axis: Any = hist.axis.Regular(old.size, old.edges[0], old.edges[-1], name=self.mass,
                                          label=label)
        else:
            axis = hist.axis.Variable(old.edges, name=self.mass, label=label)
        out = hist.Hist(axis, storage=hist.storage.Double())
        out.view(flow=True)[...] = h.view(flow=True)
        return out

    def spectrum(self, sr_low: float, sr_high: float, efficiency: float) -> Any:
        r"""The selected m spectrum of one window at one efficiency (``scores.root``).

        The histogram covers the window's fit range (the row's ``fit_range``: the window and
        ``fit_margin`` window widths each side, within the data) in the run's bins; it counts
        the selected events (all regions) there, so its bins inside the window hold the
        row's ``n_sr``. Weighted runs: sums of weights (the variances are not stored).

        Arguments:
            sr_low, sr_high: The window.
            efficiency: The selection efficiency.

        Returns:
            A :class:`hist.Hist` with one axis named after the resonant feature.
        """
        tag, row = self._tag(sr_low, sr_high, efficiency)
        return self._histogram(f"h_{tag}", f"window {_window_text(*row['sr'])} at efficiency "
                                           f"{row['efficiency']:g}", True)

    def background_fit(self, sr_low: float, sr_high: float, efficiency: float) -> Any:
        r"""The sideband fit's background prediction per bin of :meth:`spectrum`, or None
        when there is none (the fit failed, or ``background: template``).

        Arguments:
            sr_low, sr_high: The window.
            efficiency: The selection efficiency.

        Returns:
            A :class:`hist.Hist` on the bins of :meth:`spectrum`, or None.
        """
        tag, row = self._tag(sr_low, sr_high, efficiency)
        return self._histogram(f"fit_{tag}", "", False)

    def scores(self) -> dict[str, Any]:
        r"""The per-event columns of ``scores.root`` (``entry``, the mass, ``label`` if any,
        and ``score_w<i>``, ``region_w<i>``, ``fold_w<i>`` for window ``i`` of
        :attr:`signal_regions`) as numpy arrays."""
        import uproot

        path = self.directory / "scores.root"
        if not path.is_file():
            raise InputFileNotFoundError(str(path), "the bump hunt's scores are in it")
        with uproot.open(path) as f:
            return f["scores"].arrays(library="np")

    # ---------------------------------------------------------------- plots
    def plot_spectrum(self, sr_low: float, sr_high: float, efficiency: float) -> Any:
        r"""The selected m spectrum with the sideband fit and pulls (as the run's
        ``plots/spectrum_*.png``).

        Arguments:
            sr_low, sr_high: The window.
            efficiency: The selection efficiency.

        Returns:
            A matplotlib figure.
        """
        import numpy as np

        from .plots import figure_style, spectrum_figure

        _, row = self._tag(sr_low, sr_high, efficiency)
        h = self.spectrum(sr_low, sr_high, efficiency)
        fit = self.background_fit(sr_low, sr_high, efficiency)
        extra = {"edges": np.asarray(h.axes[0].edges, float),
                 "counts": np.asarray(h.values(), float),
                 "prediction": None if fit is None else np.asarray(fit.values(), float)}
        with figure_style():
            return spectrum_figure(extra, (row["sr"][0], row["sr"][1]), row["efficiency"], row,
                                   mass=self.mass)

    def _efficiencies(self, efficiencies: Sequence[float] | None) -> list[float]:
        if efficiencies is None:
            return self.efficiencies
        known = self.efficiencies
        out = []
        for eff in efficiencies:
            match = [e for e in known if same_value(e, eff)]
            if not match:
                raise BadInputError(f"{self.directory}: no efficiency {eff:g}; the efficiencies "
                                    "are " + ", ".join(f"{e:g}" for e in known))
            out.append(match[0])
        return out

    def plot_significance(self, efficiencies: Sequence[float] | None = None) -> Any:
        r"""The local significance against the window centre, one line per efficiency.

        Arguments:
            efficiencies: The efficiencies to draw (default: all).

        Returns:
            A matplotlib figure.
        """
        from .plots import figure_style, significance_figure

        with figure_style():
            return significance_figure(self.summary["windows"], self._efficiencies(efficiencies),
                                       mass=self.mass)

    def plot_pvalues(self, efficiencies: Sequence[float] | None = None) -> Any:
        r"""The local p-value against the window centre, one line per efficiency (as the
        run's ``plots/local_pvalue.png``).

        Arguments:
            efficiencies: The efficiencies to draw (default: all).

        Returns:
            A matplotlib figure.
        """
        from .plots import figure_style, pvalues_figure

        with figure_style():
            return pvalues_figure(self.summary["windows"], self._efficiencies(efficiencies))

    def plot_closure(self, sr_low: float | None = None, sr_high: float | None = None) -> Any:
        r"""The closure check: kept fraction over its mean against m, per efficiency (as the
        run's ``plots/closure_w*.png``).

        Arguments:
            sr_low, sr_high: One window; default: every window with closure rows, one panel
                each.

        Returns:
            A matplotlib figure.

        Raises:
            BadInputError: The run had no closure check, or the window has no closure rows.
        """
        import matplotlib.pyplot as plt

        from .plots import closure_figure, figure_style

        if self.closure is None:
            raise BadInputError(f"{self.directory}: the run has no closure check (run it with "
                                "closure: true, --closure)")
        rows = self.closure.get("rows", [])
        if sr_low is not None or sr_high is not None:
            if sr_low is None or sr_high is None:
                raise BadInputError("plot_closure: give both sr_low and sr_high, or neither")
            windows = [w for w in self.signal_regions
                       if same_value(w[0], sr_low) and same_value(w[1], sr_high)]
            if not windows:
                self._index(sr_low, sr_high, 1.0)  # raises, naming the windows
        else:
            windows = self.signal_regions
        panels = [(w, [r for r in rows if same_value(r["sr"][0], w[0])
                       and same_value(r["sr"][1], w[1])]) for w in windows]
        panels = [(w, mine) for w, mine in panels if mine]
        if not panels:
            raise BadInputError(f"{self.directory}: no closure rows for "
                                + ", ".join(_window_text(*w) for w in windows))
        with figure_style():
            if len(panels) == 1:
                return closure_figure(panels[0][1], panels[0][0], mass=self.mass)
            fig, axes = plt.subplots(1, len(panels), figsize=(8 * len(panels), 6),
                                     squeeze=False)
            for ax, (w, mine) in zip(axes[0], panels):
                closure_figure(mine, w, mass=self.mass, ax=ax)
            return fig

    def plot_roc_sic(self) -> Any:
        r"""ROC and SIC curves of the score in each window's SR (as the run's
        ``plots/roc_sic.png``); needs the truth labels (``label``).

        Returns:
            A matplotlib figure.
        """
        import numpy as np

        from .plots import figure_style, roc_sic_figure

        columns = self.scores()
        if "label" not in columns:
            raise BadInputError(f"{self.directory}: the run has no truth labels (label)")
        windows = self.signal_regions
        results = {i: {"score": columns[f"score_w{i}"], "region": columns[f"region_w{i}"]}
                   for i in range(len(windows))}
        with figure_style():
            return roc_sic_figure(results, windows, np.asarray(columns["label"]))


def _canonical(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True, allow_nan=True)


def _read_summary(directory: Path) -> dict[str, Any]:
    path = directory / "summary.json"
    if not directory.exists():
        raise InputFileNotFoundError(str(directory))
    if not path.is_file():
        if (directory / "state" / "fingerprint.txt").is_file():
            raise BadInputError(f"{directory}: an unfinished bump hunt (no summary.json yet); "
                                "run it again with the same configuration to finish it")
        raise BadInputError(f"{directory}: not a bump-hunt output directory (no summary.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DamagedFileError(str(path), f"not valid JSON: {err}") from None


class BumpHunt:
    r"""A bump hunt configured by settings, validated as ``flowstats bumphunt --config`` does.

    Arguments:
        settings: A mapping of options (the keys of the YAML configuration,
            ``flowstats/schema/analysis.schema.json``) or the path of a YAML file.
        overrides: Options replacing those of ``settings`` (None values mean "not given");
            ``sr`` replaces a ``scan`` of the settings and ``scan`` an ``sr``, as on the
            command line.

    Raises:
        ConfigError: An unknown key (naming the closest valid one), a bad value, or missing
            ``input``, ``features``, ``sr``/``scan``.

    Example::

        hunt = flowstats.BumpHunt({"input": "dijet.root", "features": ["mj1", "delta_mj"],
                                   "scan": {"range": [2900, 3700], "width": 400, "step": 400},
                                   "efficiency": [0.2, 0.05]})
        result = hunt.run(output="hunt")
    """

    def __init__(self, settings: Mapping[str, Any] | str | os.PathLike, **overrides: Any
                 ) -> None:
        from ..config import load_config, resolve_config

        if isinstance(settings, Mapping):
            file_config = dict(settings)
        elif isinstance(settings, (str, os.PathLike)):
            file_config = load_config(settings)
        else:
            raise ConfigError(f"settings: expected a mapping of options or a YAML file, got "
                              f"{type(settings).__name__}")
        if overrides.get("sr") is not None:
            file_config.pop("scan", None)
        if overrides.get("scan") is not None:
            file_config.pop("sr", None)
        self._config = resolve_config(file_config, overrides)

    @property
    def configuration(self) -> dict[str, Any]:
        r"""The resolved configuration (defaults applied; a copy)."""
        import copy

        return copy.deepcopy(self._config)

    def __repr__(self) -> str:
        c = self._config
        where = f"sr={c['sr']}" if c.get("sr") is not None else f"scan={c['scan']}"
        return f"BumpHunt(method={c['method']!r}, {where}, output={c.get('output')!r})"

    def run(self, *, output: str | os.PathLike | None = None, force: bool = False,
            plots: bool = True, client: Any = None) -> BumpHuntResult:
        r"""Runs the bump hunt (:func:`~flowstats.bumphunt.scan.run_bumphunt`): writes the
        output directory and returns its result, without reading anything back.

        An interrupted run with the same configuration and output resumes.

        Arguments:
            output: The output directory (default: the settings' ``output``).
            force: Replace an existing (finished or foreign) output directory.
            plots: Whether to draw the PNG plots.
            client: A dask client to use instead of the ``scheduler`` setting.
        """
        from .scan import run_bumphunt

        config = self.configuration
        if output is not None:
            config["output"] = os.fspath(output)
        summary = run_bumphunt(config, force=force, client=client, plots=plots)
        return BumpHuntResult(config["output"], summary)
