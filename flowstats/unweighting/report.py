r"""The unweighting report: ``summary.json`` and PNG plots, written atomically into a directory.

Plots (matplotlib with the mplhep ROOT style, applied only inside this module):

* ``feature_<name>.png``: the weighted test histogram (errors :math:`\sqrt{\sum w^2}`) against
  the generated one and baseline (a), normalised to unit area, with a ratio panel;
* ``correlations.png``: for each pair of features the 2-D pull
  :math:`(p_{\rm test} - p_{\rm gen}) / \sigma` of the normalised contents;
* ``training.png``: training and validation loss per epoch of each flow (when trained).
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_output, write_json
from ..exceptions import BadInputError, OutputExistsError
from .compare import histogram

log = logging.getLogger(__name__)

__all__ = ["check_report_dir", "plot_correlations", "plot_feature", "plot_training",
           "write_report"]

_LABELS = {"flow": "flow (generated)", "drop_negatives": "(a) negatives dropped",
           "hit_or_miss": "(b) hit-or-miss, signed"}


def _normalised(x: np.ndarray, w: np.ndarray, edges: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    values, variances = histogram(x, w, edges)
    total = values.sum()
    width = np.diff(edges)
    return values[1:-1] / total / width, np.sqrt(variances[1:-1]) / abs(total) / width


def plot_feature(path: Path, name: str, edges: np.ndarray, k: int, x_test: np.ndarray,
                 w_test: np.ndarray, samples: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 chi2: Mapping[str, Mapping[str, float]]) -> None:
    r"""Writes the histogram of one feature with a ratio panel to ``path``.

    Arguments:
        path: The PNG file.
        name: The feature name.
        edges: Bin edges.
        k: The feature's column.
        x_test: Weighted test events.
        w_test: Their weights.
        samples: ``label -> (x, w)`` of the generated sample and the baselines.
        chi2: ``label -> chi2 result dict`` of this feature, for the legend.
    """
    import matplotlib.pyplot as plt
    import mplhep

    with plt.style.context(mplhep.style.ROOT):
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
        # point-mass bins [v, nextafter(v)) are merged into their neighbour for display
        width = np.diff(edges)
        edges = edges[np.concatenate([[True], width > 1e-9 * (edges[-1] - edges[0])])]
        ref, ref_err = _normalised(x_test[:, k], w_test, edges)
        mplhep.histplot(ref, edges, yerr=ref_err, histtype="errorbar", color="black", ax=ax,
                        label="test events (weighted)")
        styles = {"flow": ("tab:blue", "-"), "drop_negatives": ("tab:red", "--"),
                  "hit_or_miss": ("tab:green", ":")}
        for label, (xs, ws) in samples.items():
            if not len(xs):
                continue
            vals, errs = _normalised(xs[:, k], ws, edges)
            color, ls = styles.get(label, ("gray", "-."))
            c2 = chi2.get(label, {})
            text = f"{_LABELS.get(label, label)}: $\\chi^2$/ndf = {c2.get('chi2', np.nan):.1f}" \
                   f"/{c2.get('ndf', 0)}"
            mplhep.histplot(vals, edges, histtype="step", color=color, linestyle=ls, ax=ax,
                            label=text)
            with np.errstate(divide="ignore", invalid="ignore"):
                mplhep.histplot(ref / vals, edges, yerr=ref_err / np.abs(vals),
                                histtype="errorbar",
                                color=color, ax=rax, markersize=3)
        ax.set_ylabel("normalised density")
        ax.legend(fontsize="x-small")
        if np.all(ref > 0) and ref.max() / max(ref.min(), 1e-300) > 100:
            ax.set_yscale("log")
        rax.axhline(1.0, color="gray", lw=1)
        rax.set_ylim(0.5, 1.5)
        rax.set_ylabel("test / model")
        rax.set_xlabel(name)
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)


def _pull_2d(xa: np.ndarray, wa: np.ndarray, xb: np.ndarray, wb: np.ndarray,
             ei: np.ndarray, ej: np.ndarray) -> np.ndarray:
    import boost_histogram as bh

    def fill(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = bh.Histogram(bh.axis.Variable(ei), bh.axis.Variable(ej), storage=bh.storage.Weight())
        h.fill(x[:, 0], x[:, 1], weight=w)
        view = h.view(flow=True)
        total = view.value.sum()
        return view.value[1:-1, 1:-1] / total, view.variance[1:-1, 1:-1] / total**2

    pa, va = fill(xa, wa)
    pb, vb = fill(xb, wb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(va + vb > 0, (pa - pb) / np.sqrt(va + vb), 0.0)


def plot_correlations(path: Path, names: Sequence[str], edges: Mapping[str, np.ndarray],
                      x_test: np.ndarray, w_test: np.ndarray, x_gen: np.ndarray,
                      w_gen: np.ndarray, *, bins: int = 8, max_pairs: int = 15) -> None:
    r"""Writes 2-D pull maps (test - generated) / sigma for each feature pair to ``path``.

    Arguments:
        path: The PNG file.
        names: Feature names.
        edges: Per-feature bin edges (thinned to about ``bins`` per axis).
        x_test: Weighted test events.
        w_test: Their weights.
        x_gen: Generated events.
        w_gen: Their weights.
        bins: Bins per axis.
        max_pairs: At most this many pairs are drawn.
    """
    import matplotlib.pyplot as plt
    import mplhep

    from .evaluate import _coarse

    pairs = list(itertools.combinations(range(len(names)), 2))[:max_pairs]
    if not pairs:
        return
    ncol = min(3, len(pairs))
    nrow = int(np.ceil(len(pairs) / ncol))
    with plt.style.context(mplhep.style.ROOT):
        fig, axes = plt.subplots(nrow, ncol, figsize=(5.5 * ncol, 4.5 * nrow), squeeze=False)
        for ax, (i, j) in zip(axes.flat, pairs):
            ei, ej = _coarse(edges[names[i]], bins), _coarse(edges[names[j]], bins)
            pull = _pull_2d(x_test[:, [i, j]], w_test, x_gen[:, [i, j]], w_gen, ei, ej)
            ix, iy = np.arange(len(ei)), np.arange(len(ej))  # quantile bins: index axes
            mesh = ax.pcolormesh(ix, iy, pull.T, cmap="RdBu_r", vmin=-4, vmax=4)
            fig.colorbar(mesh, ax=ax, label="pull")
            ax.set_xticks(ix[::2], [f"{e:.3g}" for e in ei[::2]], fontsize=8, rotation=45)
            ax.set_yticks(iy[::2], [f"{e:.3g}" for e in ej[::2]], fontsize=8)
            ax.set_xlabel(names[i], fontsize=12)
            ax.set_ylabel(names[j], fontsize=12)
        for ax in list(axes.flat)[len(pairs):]:
            ax.set_visible(False)
        fig.suptitle("(test - generated) / $\\sigma$, normalised contents", fontsize=14)
        fig.tight_layout()
        fig.savefig(path, dpi=70)
        plt.close(fig)


def plot_training(path: Path, histories: Mapping[str, Mapping[str, Any]]) -> bool:
    r"""Writes training and validation loss curves to ``path``; False when there are none.

    Arguments:
        path: The PNG file.
        histories: ``label -> history`` (the dicts returned by
            :meth:`flowstats.flows.Flow.fit`, one per category).
    """
    import matplotlib.pyplot as plt
    import mplhep

    histories = {k: h for k, h in (histories or {}).items() if h and h.get("train_loss")}
    if not histories:
        return False
    with plt.style.context(mplhep.style.ROOT):
        fig, ax = plt.subplots(figsize=(7, 5))
        for c, (label, history) in enumerate(histories.items()):
            color = f"C{c}"
            prefix = "" if len(histories) == 1 else f"{label}: "
            train = history["train_loss"]
            ax.plot(np.arange(1, len(train) + 1), train, color=color, ls="--",
                    label=f"{prefix}training")
            val = history.get("val_loss")
            if val:
                ax.plot(np.arange(1, len(val) + 1), val, color=color, label=f"{prefix}validation")
            best = history.get("best_epoch")
            if best is not None:
                ax.axvline(int(best) + 1, color=color, ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel("weighted NLL per event")
        ax.legend(fontsize="x-small")
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
    return True


def check_report_dir(directory: str | os.PathLike, force: bool = False) -> Path:
    r"""Refuses an existing report directory without ``force``, and with ``force`` anything
    that is not an earlier report (a file, or a directory with other content than a
    ``summary.json`` report), so that ``--force`` never deletes unrelated files.

    Arguments:
        directory: The report directory.
        force: Whether an earlier report may be replaced.
    """
    directory = Path(directory)
    check_output(directory, force)
    if directory.exists():
        if not directory.is_dir() or (any(directory.iterdir())
                                      and not (directory / "summary.json").is_file()):
            raise BadInputError(f"{str(directory)!r} exists and is not a flowstats report "
                                "directory (no summary.json); refusing to replace it")
    return directory


def write_report(directory: str | os.PathLike, summary: Mapping[str, Any], names: Sequence[str],
                 evaluation: Any, x_test: np.ndarray, w_test: np.ndarray,
                 histories: Mapping[str, Mapping[str, Any]] | None = None, *,
                 force: bool = False,
                 plots: bool = True) -> Path:
    r"""Writes ``summary.json`` and the plots into ``directory``, atomically.

    Everything is first written into a temporary directory next to ``directory``, which is
    renamed at the end: an interrupted report leaves nothing behind.

    Arguments:
        directory: The report directory (must not exist unless ``force``).
        summary: The JSON summary.
        names: Feature names.
        evaluation: The :class:`~flowstats.unweighting.evaluate.Evaluation`.
        x_test: Weighted test events.
        w_test: Their weights.
        histories: Training histories per category (None when the model was loaded).
        force: Replace an existing directory.
        plots: Whether to draw the PNGs.
    """
    directory = check_report_dir(directory, force)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp",
                                dir=directory.parent))
    try:
        files = ["summary.json"]
        if plots:
            for k, name in enumerate(names):
                chi2 = {label: evaluation.summary[label]["features"][name]
                        for label in evaluation.samples}
                fname = f"feature_{_safe(name)}.png"
                plot_feature(tmp / fname, name, evaluation.edges[name], k, x_test, w_test,
                             evaluation.samples, chi2)
                files.append(fname)
            if len(names) > 1:
                x_gen, w_gen = evaluation.samples["flow"]
                plot_correlations(tmp / "correlations.png", names, evaluation.edges, x_test,
                                  w_test, x_gen, w_gen)
                files.append("correlations.png")
            if histories and plot_training(tmp / "training.png", histories):
                files.append("training.png")
        write_json(tmp / "summary.json", {**summary, "files": sorted(files)})
        if directory.exists():
            if not force:  # created meanwhile
                raise OutputExistsError(str(directory))
            shutil.rmtree(directory) if directory.is_dir() else directory.unlink()
        os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("report written to %s", directory)
    return directory


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
