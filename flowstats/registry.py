r"""Registries of the pluggable parts: anomaly methods, background-fit families, output writers.

Each kind of part is a :class:`Registry` of self-describing entries (frozen dataclasses:
:class:`Method`, :class:`FitFamily`, :class:`Writer`). Everything that used to be a hand-kept
list is derived from them: the CLI choices of ``--method`` and ``--format``, the ``method`` and
``function`` enums of the analysis schema, the methods the bump hunt refuses as sculpting
(:data:`flowstats.bumphunt.scan.SCULPTING_METHODS`), those whose background template it may use
(:data:`flowstats.bumphunt.statistics.TEMPLATE_METHODS`), the background functions
(:data:`flowstats.stats.functions.FUNCTIONS`) and the families ``function: auto`` chooses among
(:data:`flowstats.stats.functions.FAMILIES`), the output formats
(:data:`flowstats.io.writing.FORMATS`).

The built-in entries are registered by the modules that hold their code
(:mod:`flowstats.anomaly.methods`, :mod:`flowstats.stats.functions`,
:mod:`flowstats.io.writing`); a registry imports that module on its first use. Other packages
add entries through ``importlib.metadata`` entry points of the groups ``flowstats.methods`` and
``flowstats.fit_functions``, loaded once, on the registry's first use::

    [project.entry-points."flowstats.methods"]
    example_mean = "flowstats_example_mean:METHOD"

An entry point names a :class:`Method` (or :class:`FitFamily`) object, or a callable that
returns one. A plugin that fails to load is skipped with one warning naming it; asking for the
name it should have registered raises :class:`~flowstats.exceptions.PluginError` with the
reason (``examples/plugin_method/`` is a complete plugin).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .exceptions import BadInputError, FlowstatsError, PluginError, closest

log = logging.getLogger(__name__)

__all__ = ["FIT_FAMILIES", "METHODS", "WRITERS", "DerivedMapping", "DerivedNames", "FitFamily",
           "Method", "Registry", "Writer"]

E = TypeVar("E")
V = TypeVar("V")


@dataclass(frozen=True)
class Method:
    r"""An anomaly-detection method of :func:`flowstats.anomaly.score`.

    Arguments:
        name: The name (``--method``, ``method:`` of a configuration).
        score: The function ``score(x, m, codes, names, *, seed, device, model_dir, regions,
            **options) -> (score, fold, info, template)``: ``x`` (n, d) features, ``m`` (n,)
            mass, ``codes`` (n,) region codes (1 SR, 0 sideband, -1 outside), ``names`` the
            feature names; ``options`` are the :func:`~flowstats.anomaly.score` options (it
            must accept, and may ignore, any of them: end the signature with ``**unused``).
            It returns a score for EVERY event (higher = more signal-like), the fold whose
            model scored each event (-1 when none), a JSON-ready dict of summaries, and the
            scores of a background template of the SR or None.
        description: One line for listings.
        options: The :func:`~flowstats.anomaly.score` options the method reads; ``space`` and
            ``whiten`` (:attr:`space_options`) and ``fresh_template`` are passed by
            ``flowstats score`` only to methods that list them. Options outside every
            method's list are refused by :func:`~flowstats.anomaly.score`.
        defaults: Option defaults that differ from :func:`~flowstats.anomaly.score`'s (cwola:
            ``classifier: hgb``).
        has_template: Its background template closes (the selected template fraction estimates
            the SR background efficiency of a cut), so the bump hunt may use it with
            ``background: template``.
        template_latent_only: The template closes only in latent space (ranode).
        sculpts: Its selection sculpts the background m spectrum when the features depend on
            m: the bump hunt refuses it unless ``allow_sculpting`` is set.
        sculpting_reason: Why it sculpts (required with ``sculpts``; shown in the refusal).
        needs_flow: It trains (or reuses) the sideband flow (``flow``/``fit`` options).
    """

    name: str
    score: Callable[..., tuple[Any, Any, dict, Any]]
    description: str = ""
    options: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    has_template: bool = False
    template_latent_only: bool = False
    sculpts: bool = False
    sculpting_reason: str = ""
    needs_flow: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "method")
        if not callable(self.score):
            raise TypeError(f"method {self.name!r}: score must be callable")
        if self.sculpts and not self.sculpting_reason:
            raise TypeError(f"method {self.name!r}: sculpts=True needs a sculpting_reason")
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "defaults", dict(self.defaults))

    @property
    def space_options(self) -> bool:
        r"""Whether the method scores in a chosen space (``space``/``whiten`` options)."""
        return "space" in self.options


@dataclass(frozen=True)
class FitFamily:
    r"""A family of log-linear background functions, ``exp(sum_k p_k B_k(m))``, one per order.

    Its functions are named ``<name><npar>`` (``dijet3``, ``expo2``, ...). Being log-linear,
    every function gets its starting values from a linear least-squares fit of ``ln(n / w)``
    and its parameter derivatives analytically
    (:class:`flowstats.stats.functions.BinIntegrator`): a family only gives its basis.

    Arguments:
        name: The family name (the prefix of its functions' names).
        basis: ``basis(function, m, *, sqrt_s, domain) -> B`` of shape ``m.shape + (npar,)``:
            ``function`` is the :class:`~flowstats.stats.functions.BackgroundFunction` (its
            ``name`` and ``npar``), ``sqrt_s`` the centre-of-mass energy, ``domain`` the
            ``(lo, hi)`` fit range or None. Raise
            :class:`~flowstats.exceptions.BadInputError` where the family cannot describe
            ``m``.
        orders: The numbers of parameters offered.
        auto: The nested orders (fewest parameters first) that ``function: auto`` tries by an
            F-test; empty: the family is not part of ``auto``.
        description: One line for listings.
    """

    name: str
    basis: Callable[..., Any]
    orders: tuple[int, ...]
    auto: tuple[int, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "fit family")
        if not callable(self.basis):
            raise TypeError(f"fit family {self.name!r}: basis must be callable")
        object.__setattr__(self, "orders", tuple(int(n) for n in self.orders))
        object.__setattr__(self, "auto", tuple(int(n) for n in self.auto))
        if not self.orders or min(self.orders) < 1:
            raise TypeError(f"fit family {self.name!r}: orders must be positive numbers")
        if not set(self.auto) <= set(self.orders):
            raise TypeError(f"fit family {self.name!r}: auto orders {self.auto} are not all "
                            f"among its orders {self.orders}")

    @property
    def functions(self) -> tuple[str, ...]:
        r"""The names of its functions, ``<name><npar>`` per order."""
        return tuple(f"{self.name}{n}" for n in self.orders)


@dataclass(frozen=True)
class Writer:
    r"""An output format of the event writers (``--format``).

    Arguments:
        name: The format name.
        create: ``create(file, name, branches, *, capacity, counter_name) -> tree``: makes the
            tree ``name`` in the open ``uproot`` file from ``branches`` (name -> dtype, or the
            first chunk of data, which is then written) and returns an object with
            ``extend(chunk)``; ``capacity`` is the expected number of baskets, ``counter_name``
            the namer of jagged counters (or None for the default).
        description: One line for listings.
    """

    name: str
    create: Callable[..., Any]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "writer")


def _check_name(name: Any, kind: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"bad {kind} name {name!r}: use a Python identifier")


class Registry(Generic[E]):
    r"""Entries of one kind by name, in registration order (built-ins first, then plugins).

    Arguments:
        kind: What an entry is, for messages (``"method"``).
        entry_type: The class of the entries.
        builtins: The module that registers the built-in entries, imported on first use.
        group: The entry-point group of plugins (None: no plugins).
        error: The error raised by :meth:`get` for an unknown name.
    """

    def __init__(self, kind: str, entry_type: type[E], *, builtins: str | None = None,
                 group: str | None = None, error: type[FlowstatsError] = BadInputError) -> None:
        self.kind = kind
        self.entry_type = entry_type
        self.builtins = builtins
        self.group = group
        self.error = error
        #: bumped by every registration (derived views recompute then)
        self.version = 0
        self._entries: dict[str, E] = {}
        self._failed: dict[str, str] = {}
        self._loaded = False

    def register(self, entry: E, *, replace: bool = False) -> E:
        r"""Adds ``entry``; returns it.

        Arguments:
            entry: The entry (an instance of the registry's entry type).
            replace: Whether an entry of the same name may be replaced.
        """
        if not isinstance(entry, self.entry_type):
            raise TypeError(f"a {self.kind} entry must be a {self.entry_type.__name__}, not "
                            f"{type(entry).__name__}")
        name = entry.name  # type: ignore[attr-defined]
        if name in self._entries and not replace and self._entries[name] != entry:
            raise ValueError(f"{self.kind} {name!r} is registered already (replace=True "
                             "replaces it)")
        self._entries[name] = entry
        self._failed.pop(name, None)
        self.version += 1
        return entry

    def unregister(self, name: str) -> None:
        r"""Removes the entry ``name`` (tests; a missing name is ignored)."""
        if self._entries.pop(name, None) is not None:
            self.version += 1

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.builtins:
            importlib.import_module(self.builtins)
        if self.group:
            self.load_entry_points(_entry_points(self.group))

    def load_entry_points(self, points: Iterable[Any]) -> None:
        r"""Registers the entries of ``points`` (``importlib.metadata.EntryPoint``-like: ``name``,
        ``value``, ``load()``); one that fails is skipped with a warning naming it.

        Arguments:
            points: The entry points.
        """
        for ep in points:
            try:
                obj = ep.load()
                if not isinstance(obj, self.entry_type) and callable(obj):
                    obj = obj()
                if not isinstance(obj, self.entry_type):
                    raise TypeError(f"it gives a {type(obj).__name__}, not a "
                                    f"flowstats.registry.{self.entry_type.__name__}")
                if obj.name in self._entries and self._entries[obj.name] != obj:
                    raise ValueError(f"{self.kind} {obj.name!r} is registered already")
                self.register(obj)
            except Exception as err:  # a broken plugin must not break flowstats
                reason = (f"plugin {ep.name!r} ({ep.value}) of entry-point group {self.group!r} "
                          f"failed to load: {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}".rstrip(": "))
                self._failed[ep.name] = reason
                log.warning("%s; skipped", reason)

    def get(self, name: str) -> E:
        r"""The entry ``name``; raises the registry's error with the closest names if unknown.

        Arguments:
            name: The name.
        """
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        if name in self._failed:
            raise PluginError(self._failed[name])
        hint = closest(str(name), self._entries)
        raise self.error(f"unknown {self.kind} {name!r}; use one of {', '.join(self._entries)}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else ""))

    def names(self) -> tuple[str, ...]:
        r"""The registered names, in registration order."""
        self._load()
        return tuple(self._entries)

    @property
    def failed(self) -> dict[str, str]:
        r"""Plugins that failed to load: entry-point name -> the reason."""
        self._load()
        return dict(self._failed)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[E]:
        self._load()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


class _Cached:
    r"""A value computed from registries, recomputed when one of them changes."""

    def __init__(self, compute: Callable[[], Any], registries: tuple[Registry, ...]) -> None:
        self._compute = compute
        self._registries = registries
        self._key: tuple | None = None
        self._value: Any = None

    def get(self) -> Any:
        for r in self._registries:
            r._load()
        key = tuple((id(r), r.version) for r in self._registries)
        if key != self._key:
            self._value, self._key = self._compute(), key
        return self._value


class DerivedNames(Sequence[str]):
    r"""A read-only, always current sequence of names computed from registries.

    Arguments:
        compute: Returns the names.
        registries: The registries it derives from (recomputed when one changes).
    """

    def __init__(self, compute: Callable[[], Iterable[str]], *registries: Registry) -> None:
        self._cache = _Cached(lambda: tuple(compute()), registries)

    def _get(self) -> tuple[str, ...]:
        return self._cache.get()

    def __getitem__(self, i: Any) -> Any:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __contains__(self, name: object) -> bool:
        return name in self._get()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._get() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._get())


class DerivedMapping(Mapping[str, V]):
    r"""A read-only, always current mapping computed from registries.

    Arguments:
        compute: Returns the mapping.
        registries: The registries it derives from (recomputed when one changes).
    """

    def __init__(self, compute: Callable[[], Mapping[str, V]], *registries: Registry) -> None:
        self._cache = _Cached(lambda: dict(compute()), registries)

    def _get(self) -> dict[str, V]:
        return self._cache.get()

    def __getitem__(self, name: str) -> V:
        return self._get()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


#: the anomaly methods of :func:`flowstats.anomaly.score` (plugins: ``flowstats.methods``)
METHODS: Registry[Method] = Registry("method", Method, builtins="flowstats.anomaly.methods",
                                     group="flowstats.methods")
#: the background-fit families (plugins: ``flowstats.fit_functions``)
FIT_FAMILIES: Registry[FitFamily] = Registry("fit family", FitFamily,
                                             builtins="flowstats.stats.functions",
                                             group="flowstats.fit_functions")
#: the output formats of the event writers
WRITERS: Registry[Writer] = Registry("output format", Writer, builtins="flowstats.io.writing")
