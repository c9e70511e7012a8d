r"""Classifier ensembles for weak supervision, and k-fold cross-scoring.

Two kinds, one interface (``fit(x, y, weights)``, ``decision(x)`` returning a logit, higher =
more like class 1, ``save(dir)``, ``load(dir)``):

* ``"hgb"``: an ensemble of scikit-learn ``HistGradientBoostingClassifier`` with different seeds,
  each with early stopping on its own validation split; the logits are averaged. Boosted trees
  are robust for weakly supervised (noisy-label) training and need no tuning of the input scale.
* ``"mlp"``: an ensemble of small torch MLPs; each keeps the state dicts of its ``best_epochs``
  epochs of lowest validation loss and averages their predictions (as CATHODE does).

:func:`cross_score` trains one ensemble per fold and scores every event with the ensemble of the
fold it belongs to, which never saw it in training (k-fold cross-scoring).

References:
    E. Metodiev, B. Nachman, J. Thaler, "Classification without labels", arXiv:1708.02949;
    J. Collins, K. Howe, B. Nachman, "CWoLa hunting", arXiv:1805.02664, arXiv:1902.02634.
    A. Hallin et al., CATHODE, arXiv:2109.00546 (best-epoch ensembles, k-fold).
    J. Finke et al., "Back to the roots: tree-based algorithms for weakly supervised anomaly
    detection", arXiv:2309.13111 (boosted trees for weak supervision).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .._binning import apply_bins, weighted_bin_edges
from .._threads import rebalance
from .._utils import atomic_path, progress
from ..exceptions import BadInputError, IncompatibleModelError
from ..settings.analysis import ClassifierSettings

#: the ensembles' option defaults, written once in :class:`~flowstats.settings.analysis.ClassifierSettings`
_DEFAULTS = ClassifierSettings().to_dict()

log = logging.getLogger(__name__)

__all__ = ["CLASSIFIERS", "HGBEnsemble", "MLPEnsemble", "MLPSettings", "TrainingSet",
           "cross_score", "make_classifier"]


def _balanced(y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    r"""Per-event weights that give both classes the same total weight (mean weight 1)."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    for c in (0, 1):
        sel = y == c
        total = w[sel].sum()
        if total <= 0:
            raise BadInputError(f"classifier training: class {c} has no events (or zero weight)")
        w[sel] *= 0.5 * len(y) / total
    return w


class HGBEnsemble:
    r"""Averaged logits of ``n_models`` seeded ``HistGradientBoostingClassifier``.

    Arguments:
        n_models: Number of members (different seeds and validation splits).
        seed: Base seed; member i uses ``seed + i``.
        max_iter: Maximum boosting iterations per member (early stopping on 20 % validation).
        learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization: Passed to sklearn.
        n_threads: OpenMP threads per fit. 1 by default: on a shared 2-core machine two
            threads made a 50k-event fit 20x slower (1.6 s -> 30 s, OpenMP spin-waiting);
            raise it on a dedicated many-core node.

    The features are binned here, not by scikit-learn: each feature's 255 bins have equal
    shares of the balanced training weight (``flowstats._binning.weighted_bin_edges``), and the members see
    bin numbers. scikit-learn >= 1.6 finds weighted bin edges with one weighted percentile
    (a sort) per edge and feature: 7x the whole fit's time for 40k weighted events (0.86 s
    against 0.12 s unweighted), most of a small CATHODE window's time. The trees split on
    the same kind of quantile edges as scikit-learn's own.
    """

    kind = "hgb"

    def __init__(self, n_models: int = 3, *, seed: int = 0,
                 max_iter: int = _DEFAULTS["max_iter"],
                 learning_rate: float = _DEFAULTS["learning_rate"],
                 max_leaf_nodes: int = _DEFAULTS["max_leaf_nodes"],
                 min_samples_leaf: int = _DEFAULTS["min_samples_leaf"],
                 l2_regularization: float = _DEFAULTS["l2_regularization"],
                 n_threads: int = _DEFAULTS["n_threads"], **unused: Any):
        self.options = dict(n_models=int(n_models), seed=int(seed), max_iter=int(max_iter),
                            learning_rate=float(learning_rate),
                            max_leaf_nodes=int(max_leaf_nodes),
                            min_samples_leaf=int(min_samples_leaf),
                            l2_regularization=float(l2_regularization),
                            n_threads=int(n_threads))
        self.members: list[Any] = []
        #: per feature, the upper bin edges the members' inputs are binned with (None: the
        #: members take raw features, as ensembles saved before the binning did)
        self.edges: list[np.ndarray] | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> HGBEnsemble:
        r"""Trains the members on ``x`` (n, d) with labels ``y`` in {0, 1}."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        o = self.options
        w = _balanced(y, weights)
        self.edges = weighted_bin_edges(x, w, seed=o["seed"])
        xb = self._binned(x)
        self.members = []
        for i in progress(range(o["n_models"]), desc="hgb"):
            clf = HistGradientBoostingClassifier(
                max_iter=o["max_iter"], learning_rate=o["learning_rate"],
                max_leaf_nodes=o["max_leaf_nodes"], min_samples_leaf=o["min_samples_leaf"],
                l2_regularization=o["l2_regularization"], early_stopping=True,
                validation_fraction=0.2, n_iter_no_change=10, random_state=o["seed"] + i)
            with threadpool_limits(limits=o["n_threads"], user_api="openmp"):
                clf.fit(xb, y, sample_weight=w)
            log.debug("hgb member %d: %d iterations", i, clf.n_iter_)
            self.members.append(clf)
        return self

    @staticmethod
    def cross_fit(x: np.ndarray, y: np.ndarray, fold: np.ndarray,
                  ensembles: list[HGBEnsemble], weights: np.ndarray | None = None,
                  redraw: Redraw | None = None) -> list[HGBEnsemble]:
        r"""Trains ``ensembles[j]`` on the events whose fold is not j, one after another (as
        :meth:`MLPEnsemble.cross_fit`, which trains them together). The trees train in one
        pass, not in epochs: ``redraw`` is not used, they keep the given class-0 events."""
        for j, ens in enumerate(ensembles):
            train = fold != j
            ens.fit(x[train], y[train], None if weights is None else weights[train])
        return ensembles

    def decision(self, x: np.ndarray) -> np.ndarray:
        r"""Mean logit over the members (higher = more like class 1)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.options["n_threads"], user_api="openmp"):
            xb = self._binned(x)
            return np.mean([m.decision_function(xb) for m in self.members], axis=0)

    def _binned(self, x: np.ndarray) -> np.ndarray:
        r"""Bin numbers of ``x`` (n, d) by :attr:`edges` (raw ``x`` when there are none)."""
        x = np.asarray(x, dtype=np.float64)
        if self.edges is None:
            return x
        if x.ndim != 2 or x.shape[1] != len(self.edges):
            raise BadInputError(f"hgb classifier: {x.shape[-1]} features given, trained on "
                                f"{len(self.edges)}")
        return apply_bins(self.edges, x)

    def save(self, directory: str | Path) -> None:
        r"""Saves the ensemble in ``directory`` (``hgb.pkl``, ``classifier.json``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "hgb.pkl", force=True) as tmp:
            tmp.write_bytes(pickle.dumps({"members": self.members, "edges": self.edges}))
        (directory / "classifier.json").write_text(json.dumps({"kind": self.kind, **self.options}))

    @classmethod
    def load(cls, directory: str | Path) -> HGBEnsemble:
        r"""Loads an ensemble saved by :meth:`save` (a pickle: load only your own files)."""
        directory = Path(directory)
        options = json.loads((directory / "classifier.json").read_text())
        options.pop("kind")
        new = cls(**options)
        saved = pickle.loads((directory / "hgb.pkl").read_bytes())
        if isinstance(saved, dict):
            new.members, new.edges = saved["members"], saved["edges"]
        else:  # saved before the binning: members on raw features
            new.members = saved
        return new


#: ``redraw(n, rng)``: n fresh events of class 0, drawn with the numpy generator ``rng``
Redraw = Callable[[int, np.random.Generator], np.ndarray]


def _batched_mlp(nets: list[Any]) -> Any:
    r"""The MLPs ``nets`` (each built by ``MLPEnsemble._net``: Linear layers with ReLU between
    them, one logit) stacked as one batched network with their current weights;
    :meth:`state_of` gives network i's weights back as its own state dict."""
    import torch
    import torch.nn as nn

    linear = [i for i, layer in enumerate(nets[0]) if isinstance(layer, nn.Linear)]

    class BatchedMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = nn.ParameterList(
                [nn.Parameter(torch.stack([net[i].weight.detach().T for net in nets]))
                 for i in linear])
            self.biases = nn.ParameterList(
                [nn.Parameter(torch.stack([net[i].bias.detach()[None] for net in nets]))
                 for i in linear])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # x: (networks, batch, d) -> logits (networks, batch)
            h = x
            last = len(self.weights) - 1
            for li, (wgt, bias) in enumerate(zip(self.weights, self.biases)):
                h = torch.baddbmm(bias, h, wgt)
                if li < last:
                    h = torch.relu(h)
            return h.squeeze(-1)

        def state_of(self, k: int) -> dict[str, Any]:
            out = {}
            for i, wgt, bias in zip(linear, self.weights, self.biases):
                out[f"{i}.weight"] = wgt[k].detach().T.cpu().clone()
                out[f"{i}.bias"] = bias[k, 0].detach().cpu().clone()
            return out

    return BatchedMLP()


def _member_splits(x: np.ndarray, y: np.ndarray, fold: np.ndarray, ensembles: list[Any],
                   weights: np.ndarray | None) -> tuple[np.ndarray, list, list, list, list]:
    r"""The training and validation events of every network of :meth:`MLPEnsemble.cross_fit`
    (ensemble j trains on the events whose fold is not j; each member draws 20 % of them for
    validation with its own seed), and each ensemble's input standardisation (set on it).

    Returns:
        Per ensemble and event the weight that balances the classes of its training events
        (ensembles, n), and per network its training events (torch), validation events, seed
        and ensemble.
    """
    import torch

    n_models = ensembles[0].options["n_models"]
    w = np.zeros((len(ensembles), len(x)), dtype=np.float32)
    train_idx, val_idx, seeds, ensemble_of = [], [], [], []
    for j, ens in enumerate(ensembles):
        own = np.flatnonzero(fold != j)
        w[j, own] = _balanced(y[own], None if weights is None else weights[own])
        ens.mean, ens.std = x[own].mean(axis=0), x[own].std(axis=0) + 1e-12
        for i in range(n_models):
            member_seed = ens.options["seed"] + i
            perm = own[np.random.default_rng(member_seed).permutation(len(own))]
            cut = max(1, len(own) // 5)
            val_idx.append(np.sort(perm[:cut]))
            train_idx.append(torch.from_numpy(np.sort(perm[cut:])))
            seeds.append(member_seed)
            ensemble_of.append(j)
    return w, train_idx, val_idx, seeds, ensemble_of


def _keep_best(ensembles: list[Any], history: list[list[tuple[float, dict[str, Any]]]]) -> None:
    r"""Sets each ensemble's member states: the ``best_epochs`` states of lowest validation
    loss of each of its networks (``history``: per network, (loss, state) per epoch)."""
    o = ensembles[0].options
    for j, ens in enumerate(ensembles):
        ens.states = []
        for i in range(o["n_models"]):
            h = sorted(history[j * o["n_models"] + i], key=lambda t: t[0])
            ens.states.append([s for _, s in h[:o["best_epochs"]]])


@dataclass(frozen=True)
class MLPSettings:
    r"""The training options of an :class:`MLPEnsemble` (keywords of its constructor).

    Attributes:
        hidden: Hidden layer sizes.
        epochs: Training epochs per network.
        best_epochs: Number of lowest-validation-loss epochs whose predictions are averaged.
        batch_size, lr, weight_decay: Adam settings (``batch_size`` events of one network's
            own training events per step).
        max_epoch_events: An epoch is at most this many of a network's training events, a new
            random subset every epoch (None: all of them): large signal regions then cost about
            what a typical window costs.
    """

    hidden: tuple[int, ...] = tuple(_DEFAULTS["hidden"])
    epochs: int = 30
    best_epochs: int = _DEFAULTS["best_epochs"]
    batch_size: int = _DEFAULTS["batch_size"]
    lr: float = _DEFAULTS["lr"]
    weight_decay: float = _DEFAULTS["weight_decay"]
    max_epoch_events: int | None = _DEFAULTS["max_epoch_events"]


class MLPEnsemble:
    r"""Small torch MLPs; each averages its ``best_epochs`` epochs of lowest validation loss.

    Arguments:
        n_models: Number of independently seeded networks.
        seed: Base seed.
        device: torch device string.
        options: The training options, by the names of :class:`MLPSettings` (``hidden``,
            ``epochs``, ``best_epochs``, ``batch_size``, ``lr``, ``weight_decay``,
            ``max_epoch_events``); other names are ignored.

    :func:`cross_score` trains the ensembles of its k folds together (:meth:`cross_fit`).
    """

    kind = "mlp"

    def __init__(self, n_models: int = 1, *, seed: int = 0, device: str = "cpu",
                 **options: Any):
        # the training options, by the names of MLPSettings (others are ignored: the options
        # of another classifier kind)
        o = MLPSettings(**{f.name: options[f.name] for f in fields(MLPSettings)
                           if f.name in options})
        cap = None if o.max_epoch_events is None else int(o.max_epoch_events)
        if cap is not None and cap < 1:
            raise BadInputError(f"classifier option max_epoch_events must be >= 1 or None, "
                                f"not {o.max_epoch_events!r}")
        self.options = dict(n_models=int(n_models), seed=int(seed), hidden=list(o.hidden),
                            epochs=int(o.epochs), best_epochs=int(o.best_epochs),
                            batch_size=int(o.batch_size), lr=float(o.lr),
                            weight_decay=float(o.weight_decay), max_epoch_events=cap)
        self.device = device
        self.states: list[list[dict[str, Any]]] = []
        self.mean = self.std = None

    def _net(self, d: int) -> Any:
        import torch.nn as nn

        layers: list[Any] = []
        for h in self.options["hidden"]:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, 1))
        return nn.Sequential(*layers)

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> MLPEnsemble:
        r"""Trains the networks on ``x`` (n, d) with labels ``y`` in {0, 1}."""
        return self.cross_fit(x, y, np.full(len(x), -1), [self], weights)[0]

    @staticmethod
    def cross_fit(x: np.ndarray, y: np.ndarray, fold: np.ndarray, ensembles: list[MLPEnsemble],
                  weights: np.ndarray | None = None,
                  redraw: Redraw | None = None) -> list[MLPEnsemble]:
        r"""Trains ``ensembles[j]`` on the events whose fold is not j, all networks of all
        ensembles at once (k-fold training in one pass).

        One network per member and ensemble, all stacked as one batched network
        (``_batched_mlp``): every optimiser step takes a mini-batch of each network's own
        training events, so the k folds' networks cost one sequence of steps instead of k
        (``benchmarks/bench_classifiers.py`` measures the gain). Each network draws 20 % of its
        training events for validation, keeps its ``best_epochs`` states of lowest validation
        loss, and standardises its inputs by its ensemble's training events, as when trained
        alone.

        Arguments:
            x, y, weights: All training events (n, d), labels in {0, 1}, weights or None.
            fold: (n,) fold number of every event (ensemble j skips fold j; -1 is in no fold).
            ensembles: Untrained ensembles with equal options except their seeds.
            redraw: None, or ``redraw(n, rng)``: n fresh class-0 events (n, d) from the
                class-0 distribution, drawn with the numpy generator ``rng``. Every epoch then
                trains on a new draw in place of the given class-0 events, which stay the
                validation events (see :func:`cross_score`).
        """
        import torch

        o = ensembles[0].options
        device = ensembles[0].device
        if any({**e.options, "seed": 0} != {**o, "seed": 0} for e in ensembles):
            raise ValueError("cross_fit: the ensembles' options differ")
        n, d = x.shape
        w, train_idx, val_idx, seeds, ensemble_of = _member_splits(
            x, y, np.asarray(fold), ensembles, weights)
        n_nets = len(seeds)
        # the networks' event lists are cut to the shortest so that they stack (the few
        # training events cut differ from epoch to epoch)
        n_tr = min(len(t) for t in train_idx)
        # an epoch: at most max_epoch_events of them, a new random subset each epoch
        n_epoch = n_tr if o.get("max_epoch_events") is None else min(n_tr, o["max_epoch_events"])
        n_val = min(len(v) for v in val_idx)
        val_idx = torch.from_numpy(np.stack([v[:n_val] for v in val_idx])).to(device)
        initial = []
        for s in seeds:
            torch.manual_seed(s)
            initial.append(ensembles[0]._net(d))
        nets = _batched_mlp(initial).to(device)
        # one fused kernel for the update of all networks (12 % of a step on a CPU)
        opt = torch.optim.Adam(nets.parameters(), lr=o["lr"], weight_decay=o["weight_decay"],
                               fused=True)
        gens = [torch.Generator().manual_seed(s) for s in seeds]

        def per_network(values: list[np.ndarray]) -> torch.Tensor:
            # one row per network from one row per ensemble
            return torch.from_numpy(np.stack(values)[ensemble_of].astype(np.float32)).to(device)

        xt = torch.from_numpy(x.astype(np.float32)).to(device)
        shift = per_network([e.mean for e in ensembles])[:, None]
        scale = per_network([e.std for e in ensembles])[:, None]
        yt = torch.from_numpy(y.astype(np.float32)).to(device)
        wt = per_network(list(w))  # (networks, n)
        rows = torch.arange(n_nets, device=device)[:, None]

        def weighted_loss(b: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
            # (networks, batch) weighted BCE of each network on its own events b of source
            out = nets((source[b] - shift) / scale)
            return torch.nn.functional.binary_cross_entropy_with_logits(
                out, yt[b], reduction="none") * wt[rows, b]

        if redraw is not None:
            redrawn = torch.from_numpy(np.flatnonzero(y == 0)).to(device)
            redraw_rng = np.random.default_rng([*seeds, 17])
        history: list[list[tuple[float, dict[str, Any]]]] = [[] for _ in range(n_nets)]
        for _ in progress(range(o["epochs"]), desc="mlp"):
            nets.train()
            source = xt
            if redraw is not None:
                source = xt.clone()
                fresh = np.asarray(redraw(len(redrawn), redraw_rng), dtype=np.float32)
                source[redrawn] = torch.from_numpy(fresh).to(device)
            order = torch.stack([t[torch.randperm(len(t), generator=g)[:n_epoch]]
                                 for t, g in zip(train_idx, gens)]).to(device)
            for start in range(0, n_epoch, o["batch_size"]):
                rebalance()
                loss = weighted_loss(order[:, start:start + o["batch_size"]], source)
                opt.zero_grad()
                loss.mean(dim=1).sum().backward()
                opt.step()
            nets.eval()
            with torch.no_grad():
                vsum = sum(weighted_loss(val_idx[:, start:start + 16384], xt).sum(dim=1)
                           for start in range(0, n_val, 16384))
                vloss = (vsum / wt[rows, val_idx].sum(dim=1)).cpu().numpy()
            for i in range(n_nets):
                history[i].append((float(vloss[i]), nets.state_of(i)))
        _keep_best(ensembles, history)
        return ensembles

    def decision(self, x: np.ndarray) -> np.ndarray:
        r"""Logit of the probability averaged over members and best epochs."""
        import torch

        xs = torch.from_numpy(((x - self.mean) / self.std).astype(np.float32))
        net = self._net(x.shape[1])
        probs = []
        with torch.no_grad():
            for member in self.states:
                for state in member:
                    net.load_state_dict(state)
                    out = [torch.sigmoid(net(xs[i:i + 65536]).squeeze(-1))
                           for i in range(0, len(xs), 65536)]
                    probs.append(torch.cat(out).double().numpy())
        p = np.clip(np.mean(probs, axis=0), 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)

    def save(self, directory: str | Path) -> None:
        r"""Saves the ensemble in ``directory``."""
        import torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = {"states": self.states, "mean": torch.from_numpy(self.mean),
                   "std": torch.from_numpy(self.std)}
        with atomic_path(directory / "mlp.pt", force=True) as tmp:
            torch.save(payload, tmp)
        (directory / "classifier.json").write_text(json.dumps({"kind": self.kind, **self.options}))

    @classmethod
    def load(cls, directory: str | Path) -> MLPEnsemble:
        import torch

        directory = Path(directory)
        options = json.loads((directory / "classifier.json").read_text())
        options.pop("kind")
        new = cls(**options)
        payload = torch.load(directory / "mlp.pt", weights_only=True)
        new.states = payload["states"]
        new.mean, new.std = payload["mean"].numpy(), payload["std"].numpy()
        return new


CLASSIFIERS = {"hgb": HGBEnsemble, "mlp": MLPEnsemble}


def make_classifier(kind: str = "hgb", **options: Any) -> HGBEnsemble | MLPEnsemble:
    r"""Returns an untrained ensemble of the given kind (``"hgb"`` or ``"mlp"``).

    Arguments:
        kind: ``"hgb"`` (HistGradientBoosting ensemble) or ``"mlp"`` (torch MLP ensemble).
        options: Passed to the ensemble's constructor.
    """
    if kind not in CLASSIFIERS:
        from ..exceptions import closest

        hint = closest(kind, CLASSIFIERS)
        raise BadInputError(f"unknown classifier {kind!r}; use one of {sorted(CLASSIFIERS)}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return CLASSIFIERS[kind](**options)


def load_classifier(directory: str | Path) -> HGBEnsemble | MLPEnsemble:
    r"""Loads a classifier ensemble saved in ``directory``."""
    path = Path(directory) / "classifier.json"
    if not path.exists():
        raise IncompatibleModelError(f"no saved classifier in {str(directory)!r}")
    kind = json.loads(path.read_text()).get("kind")
    if kind not in CLASSIFIERS:
        raise IncompatibleModelError(f"unknown classifier kind {kind!r} in {str(path)!r}")
    return CLASSIFIERS[kind].load(directory)


@dataclass(frozen=True)
class TrainingSet:
    r"""The training events of :func:`cross_score`.

    Attributes:
        x, y, fold: Training events (n, d), labels in {0, 1} and fold numbers in ``[0, k)``.
        weights: Training weights (the classes are rebalanced to equal total weight), or None.
    """

    x: np.ndarray
    y: np.ndarray
    fold: np.ndarray
    weights: np.ndarray | None = None


def cross_score(train: TrainingSet, x_score: np.ndarray, fold_score: np.ndarray, *, k: int,
                kind: str = "hgb", seed: int = 0, model_dir: str | Path | None = None,
                redraw: Redraw | None = None, **options: Any) -> np.ndarray:
    r"""k-fold cross-scoring: the model trained without fold j scores the events of fold j.

    Arguments:
        train: The training events, labels, folds and weights (:class:`TrainingSet`).
        x_score, fold_score: Events to score and their folds in ``[0, k)``; an event that is
            also a training event must carry the same fold, so its scorer never saw it.
        k: Number of folds.
        kind: Classifier kind (see :func:`make_classifier`).
        seed: Seed of the classifiers (fold j uses ``seed + 1000 j``).
        model_dir: Where the fold models are saved (``fold<j>/``), or None.
        redraw: For class 0 drawn from a known distribution (an infinite sample, such as the
            N(0, 1) background of latent space): ``redraw(n, rng)`` returns n fresh draws.
            The MLP then trains every epoch on a new draw of its class-0 events instead of
            the same ones again, so it cannot learn the given draw's fluctuations; the given
            class-0 events are its validation events and are scored as usual. The boosted
            trees train in one pass and keep the given events.
        options: Passed to the classifier.

    Returns:
        The logit score of every row of ``x_score``.
    """
    out = np.empty(len(x_score))
    models = [make_classifier(kind, seed=seed + 1000 * j, **options) for j in range(k)]
    # the MLP ensembles of the k folds train together, as one batched network
    type(models[0]).cross_fit(train.x, train.y, train.fold, models, train.weights,
                              redraw=redraw)
    for j, clf in enumerate(models):
        n_train = int((train.fold != j).sum())
        sel = fold_score == j
        if sel.any():
            out[sel] = clf.decision(x_score[sel])
        if model_dir is not None:
            clf.save(Path(model_dir) / f"fold{j}")
        log.info("fold %d/%d trained on %d events, scored %d", j + 1, k, n_train,
                 int(sel.sum()))
    return out
