r"""HistFactory models: build, validate, patch, read and export pyhf workspaces.

* :func:`build_workspace` turns histograms (observed data, a background prediction, a signal
  template) into a HistFactory workspace: the signal scaled by a free parameter of interest;
  the background with optional uncertainties - a shape variation (``histosys``), a normalisation
  (``normsys``), bin-by-bin template statistics (``staterror``, Gaussian, Barlow-Beeston lite) or
  a Poisson-constrained per-bin uncertainty (``shapesys``).
* :func:`counting_workspace` is the single-bin case. A background uncertainty
  :math:`\sigma_b` as ``shapesys`` gives a Poisson auxiliary measurement
  :math:`m \sim \mathrm{Pois}(\tau \gamma)`, :math:`\tau = (b/\sigma_b)^2`: exactly the on/off
  problem whose Asimov discovery significance is Cowan's formula (arXiv:1007.1727, eq. 20 of
  Cowan's "Discovery sensitivity for a counting experiment with background uncertainty").
  A Gaussian (``staterror``) constraint gives a slightly different number.
* :func:`gaussian_template` is a signal at a mass hypothesis smeared by the detector resolution.
* :func:`validate_workspace` checks a spec against pyhf's JSON schema and says where it fails
  (the JSON path); :func:`read_workspace`, :func:`read_patch`, :func:`apply_patch` and
  :func:`load_model` read workspaces and patches (a JSON-patch list, as published with the
  ATLAS likelihoods, or a pyhf patchset with a patch name); :func:`export_workspace` writes JSON.

References:
    K. Cranmer et al., HistFactory, CERN-OPEN-2012-016;
    L. Heinrich, M. Feickert, G. Stark, K. Cranmer, pyhf, JOSS 6 (2021) 2823;
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, Eur. Phys. J. C 71 (2011) 1554, arXiv:1007.1727.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from .._utils import write_json
from ..exceptions import BadInputError, InputFileNotFoundError, WorkspaceError, closest

log = logging.getLogger(__name__)

__all__ = [
    "MODIFIER_SETTINGS",
    "Uncertainties",
    "apply_patch",
    "build_workspace",
    "counting_workspace",
    "export_workspace",
    "gaussian_template",
    "json_path",
    "load_model",
    "read_patch",
    "read_workspace",
    "validate_workspace",
]

#: interpolation codes of ``pyhf cls`` (and of the published ATLAS results)
MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}


def gaussian_template(edges: np.ndarray, mass: float, resolution: float,
                      total: float = 1.0) -> np.ndarray:
    r"""A Gaussian signal integrated over bins: ``total`` times its fraction in each bin.

    Arguments:
        edges: The bin edges.
        mass: The mass hypothesis (mean).
        resolution: The detector resolution (standard deviation, same units as ``mass``).
        total: The yield of the whole Gaussian (events outside the edges are lost).
    """
    if not resolution > 0:
        raise BadInputError(f"gaussian_template: resolution must be positive, got {resolution}")
    edges = np.asarray(edges, dtype=float)
    return total * np.diff(special.ndtr((edges - mass) / resolution))


def _vector(x: Any, n: int, what: str, *, positive: bool = False) -> list[float]:
    a = np.atleast_1d(np.asarray(x, dtype=float))
    if a.shape != (n,):
        raise BadInputError(f"build_workspace: {what} has {a.size} bins, expected {n}")
    if not np.all(np.isfinite(a)):
        raise BadInputError(f"build_workspace: {what} has NaN or infinite entries")
    if positive and np.any(a < 0):
        raise BadInputError(f"build_workspace: {what} has negative entries at bins "
                            f"{np.flatnonzero(a < 0).tolist()}")
    return a.tolist()


@dataclass(frozen=True)
class Uncertainties:
    r"""The uncertainties of a :func:`build_workspace` model (each None: not in the model).

    Attributes:
        bkg_shape: ``(up, down)`` background variations -> ``histosys`` ``bkg_shape``.
        bkg_norm: Relative background normalisation uncertainty -> ``normsys`` ``bkg_norm``.
        bkg_stat: Absolute per-bin background uncertainty (template statistics, fit
            uncertainty) -> ``staterror`` (Gaussian constraints).
        bkg_shapesys: Absolute per-bin background uncertainty -> ``shapesys`` ``bkg_shapesys``
            (Poisson constraints, as an on/off measurement).
        signal_stat: Absolute per-bin signal template statistical uncertainty -> ``staterror``
            (shared with the background's by pyhf, per bin).
    """

    bkg_shape: tuple[Sequence[float], Sequence[float]] | None = None
    bkg_norm: float | None = None
    bkg_stat: Sequence[float] | None = None
    bkg_shapesys: Sequence[float] | None = None
    signal_stat: Sequence[float] | None = None

    def modifiers(self, n: int, channel: str, bkg: list[float]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        r"""The background's modifiers and the signal's (besides its normfactor), checked
        against ``n`` bins and the nominal background ``bkg``."""
        bmods: list[dict[str, Any]] = []
        smods: list[dict[str, Any]] = []
        if self.bkg_shape is not None:
            up, down = self.bkg_shape
            bmods.append({"name": "bkg_shape", "type": "histosys",
                          "data": {"hi_data": _vector(up, n, "bkg_shape up", positive=True),
                                   "lo_data": _vector(down, n, "bkg_shape down",
                                                      positive=True)}})
        if self.bkg_norm is not None:
            r = float(self.bkg_norm)
            if not 0 < r < 1:
                raise BadInputError(f"build_workspace: bkg_norm must be in (0, 1), got {r}")
            bmods.append({"name": "bkg_norm", "type": "normsys",
                          "data": {"hi": 1 + r, "lo": 1 - r}})
        if self.bkg_stat is not None:
            bmods.append({"name": f"staterror_{channel}", "type": "staterror",
                          "data": _vector(self.bkg_stat, n, "bkg_stat", positive=True)})
        if self.signal_stat is not None:
            smods.append({"name": f"staterror_{channel}", "type": "staterror",
                          "data": _vector(self.signal_stat, n, "signal_stat", positive=True)})
        if self.bkg_shapesys is not None:
            unc = np.asarray(_vector(self.bkg_shapesys, n, "bkg_shapesys", positive=True))
            if np.any((unc <= 0) & (np.asarray(bkg) > 0)):
                raise BadInputError("build_workspace: bkg_shapesys must be positive in bins "
                                    "with background (a zero uncertainty is an infinite "
                                    "constraint)")
            bmods.append({"name": "bkg_shapesys", "type": "shapesys", "data": unc.tolist()})
        return bmods, smods


def build_workspace(data: Sequence[float], background: Sequence[float], signal: Sequence[float],
                    *, channel: str = "SR", poi: str = "mu",
                    poi_bounds: tuple[float, float] = (0.0, 10.0),
                    measurement: str = "measurement", validate: bool = True,
                    **uncertainties: Any) -> dict[str, Any]:
    r"""Builds a one-channel HistFactory workspace (a JSON-ready dict).

    Arguments:
        data: Observed counts per bin (not negative).
        background: Nominal background per bin.
        signal: Nominal signal per bin (for ``poi`` = 1).
        channel: The channel name.
        poi: The signal-strength parameter's name.
        poi_bounds: Its bounds.
        measurement: The measurement's name.
        validate: Check the result against pyhf's schema.
        uncertainties: The uncertainties in the model, by the names of :class:`Uncertainties`
            (``bkg_shape``, ``bkg_norm``, ``bkg_stat``, ``bkg_shapesys``, ``signal_stat``).

    References:
        pyhf modifiers, https://pyhf.readthedocs.io/en/v0.7.6/likelihood.html#modifiers
    """
    unknown = sorted(set(uncertainties) - {f.name for f in fields(Uncertainties)})
    if unknown:
        raise TypeError(f"build_workspace() got an unexpected keyword argument {unknown[0]!r}")
    n = len(np.atleast_1d(data))
    obs = _vector(data, n, "data", positive=True)
    bkg = _vector(background, n, "background", positive=True)
    sig = _vector(signal, n, "signal", positive=True)
    bmods, extra = Uncertainties(**uncertainties).modifiers(n, channel, bkg)
    smods: list[dict[str, Any]] = [{"name": poi, "type": "normfactor", "data": None}, *extra]
    lo, hi = map(float, poi_bounds)
    if not hi > lo:
        raise BadInputError(f"build_workspace: empty POI bounds {poi_bounds}")
    spec = {
        "channels": [{"name": channel, "samples": [
            {"name": "signal", "data": sig, "modifiers": smods},
            {"name": "background", "data": bkg, "modifiers": bmods},
        ]}],
        "observations": [{"name": channel, "data": obs}],
        "measurements": [{"name": measurement, "config": {
            "poi": poi, "parameters": [{"name": poi, "bounds": [[lo, hi]], "inits": [1.0]}]}}],
        "version": "1.0.0",
    }
    if validate:
        validate_workspace(spec, where="build_workspace")
    return spec


def counting_workspace(s: float, b: float, observed: float, *, sigma_b: float | None = None,
                       constraint: str = "poisson", poi_bounds: tuple[float, float] = (0.0, 10.0),
                       validate: bool = True) -> dict[str, Any]:
    r"""A single-bin counting experiment: ``observed`` events for ``mu * s + b``.

    Arguments:
        s: The signal yield for mu = 1.
        b: The background yield.
        observed: The observed count (``s + b`` gives the Asimov data of the discovery case).
        sigma_b: An absolute background uncertainty, if any.
        constraint: ``"poisson"`` (``shapesys``: reproduces Cowan's formula with sigma_b) or
            ``"gaussian"`` (``staterror``).
        poi_bounds: The bounds of mu.
        validate: Check the result against pyhf's schema.

    References:
        G. Cowan et al., arXiv:1007.1727, eq. (97); G. Cowan, "Discovery sensitivity for a
        counting experiment with background uncertainty" (2012),
        https://www.pp.rhul.ac.uk/~cowan/stat/medsig/medsigNote.pdf
    """
    if constraint not in ("poisson", "gaussian"):
        raise BadInputError(f"counting_workspace: constraint must be 'poisson' or 'gaussian', "
                            f"got {constraint!r}")
    kwargs: dict[str, Any] = {}
    if sigma_b is not None:
        key = "bkg_shapesys" if constraint == "poisson" else "bkg_stat"
        kwargs[key] = [float(sigma_b)]
    return build_workspace([observed], [b], [s], poi_bounds=poi_bounds, validate=validate,
                           **kwargs)


def json_path(path: Sequence[Any]) -> str:
    r"""Formats a JSON location like ``$.channels[0].samples[1].data``."""
    out = "$"
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else f".{item}"
    return out


def _deepest(error: Any, jsonschema: Any) -> Any:
    # oneOf/anyOf (e.g. the modifier types): prefer the branch whose "type" matched, then
    # descend to its most relevant error
    while error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        matching = [errs for errs in branches.values()
                    if not any(e.validator in ("const", "enum") and list(e.relative_path) ==
                               ["type"] for e in errs)]
        pool = matching[0] if len(matching) == 1 else list(error.context)
        error = jsonschema.exceptions.best_match(pool)
    return error


def validate_workspace(spec: Any, *, where: str = "workspace") -> Any:
    r"""Validates ``spec`` against pyhf's workspace schema and builds the Workspace.

    Arguments:
        spec: The workspace dict.
        where: What/where the spec is (file name), for messages.

    Returns:
        The :class:`pyhf.Workspace`; raises :class:`~flowstats.exceptions.WorkspaceError`
        naming the failing JSON path.
    """
    import jsonschema
    import pyhf

    if not isinstance(spec, dict):
        raise WorkspaceError(f"{where}: a workspace must be a JSON object, got "
                             f"{type(spec).__name__}")
    try:
        pyhf.schema.validate(spec, "workspace.json")
    except pyhf.exceptions.InvalidSpecification as err:
        error = _deepest(err.parent, jsonschema)
        raise WorkspaceError(f"{where} fails pyhf's workspace schema at "
                             f"{json_path(error.absolute_path)}: {error.message}") from None
    try:
        return pyhf.Workspace(spec)
    except pyhf.exceptions.InvalidSpecification as err:
        raise WorkspaceError(f"{where} fails pyhf's schema at {json_path(err.parent.absolute_path)}"
                             f": {err.parent.message}") from None
    except (pyhf.exceptions.InvalidWorkspaceOperation, pyhf.exceptions.InvalidModel,
            pyhf.exceptions.InvalidMeasurement) as err:
        raise WorkspaceError(f"{where}: invalid workspace: {err}") from None


def _read_json(path: str | os.PathLike, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(str(path))
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise WorkspaceError(f"{what} {str(path)!r} is not valid JSON: {err.msg} at line "
                             f"{err.lineno}, column {err.colno}") from None
    except UnicodeDecodeError:
        raise WorkspaceError(f"{what} {str(path)!r} is not a text (JSON) file") from None


def read_workspace(path: str | os.PathLike) -> dict[str, Any]:
    r"""Reads a workspace JSON file (not yet validated: see :func:`validate_workspace`).

    Arguments:
        path: The JSON file.
    """
    spec = _read_json(path, "workspace")
    if not isinstance(spec, dict):
        raise WorkspaceError(f"workspace {str(path)!r} must be a JSON object, got "
                             f"{type(spec).__name__}")
    return spec


def read_patch(path: str | os.PathLike, name: str | None = None, *,
               workspace: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    r"""Reads a JSON patch: a JSON-patch list, or one patch of a pyhf patchset.

    Arguments:
        path: The patch file.
        name: The patch name inside a patchset (required for patchsets, ignored otherwise).
        workspace: The background-only workspace, to verify a patchset's digests against.

    Returns:
        The list of JSON-patch operations.
    """
    import pyhf

    obj = _read_json(path, "patch")
    where = repr(str(path))
    if isinstance(obj, list):
        if name is not None:
            log.info("patch %s is a plain JSON patch; --patch-name %r ignored", where, name)
        if not all(isinstance(op, dict) and "op" in op and "path" in op for op in obj):
            raise WorkspaceError(f"patch {where}: a JSON patch must be a list of operations "
                                 "with 'op' and 'path'")
        return obj
    if not (isinstance(obj, dict) and "patches" in obj):
        raise WorkspaceError(f"patch {where} is neither a JSON patch (a list) nor a pyhf "
                             "patchset (an object with 'patches')")
    try:
        patchset = pyhf.PatchSet(obj)
    except pyhf.exceptions.InvalidSpecification as err:
        raise WorkspaceError(f"patchset {where} fails pyhf's patchset schema at "
                             f"{json_path(err.parent.absolute_path)}: {err.parent.message}"
                             ) from None
    except pyhf.exceptions.InvalidPatchSet as err:
        raise WorkspaceError(f"patchset {where} is invalid: {err}") from None
    names = [p.name for p in patchset]
    if name is None:
        raise WorkspaceError(f"{where} is a patchset of {len(names)} patches; choose one with "
                             f"--patch-name: {', '.join(names[:10])}"
                             + (", ..." if len(names) > 10 else ""))
    if name not in names:
        near = closest(name, names, n=len(names))
        ordered = near + [n for n in names if n not in near]
        raise WorkspaceError(f"no patch {name!r} in patchset {where}; patches (closest first): "
                             f"{', '.join(ordered[:20])}" + (", ..." if len(names) > 20 else ""))
    if workspace is not None:
        try:
            patchset.verify(workspace)
        except pyhf.exceptions.PatchSetVerificationError as err:
            raise WorkspaceError(f"patchset {where} does not belong to this workspace: "
                                 f"{err}") from None
    return list(patchset[name].patch)


def apply_patch(spec: dict[str, Any], patch: list[dict[str, Any]], *,
                where: str = "patch") -> dict[str, Any]:
    r"""Applies JSON-patch operations to a copy of a workspace spec (the input is unchanged).

    Arguments:
        spec: The workspace dict.
        patch: The JSON-patch operations.
        where: The patch's name, for messages.
    """
    import jsonpatch

    try:
        return jsonpatch.apply_patch(copy.deepcopy(spec), patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise WorkspaceError(f"{where} cannot be applied to the workspace: {err}") from None


def load_model(spec: dict[str, Any], *, measurement: str | None = None,
               modifier_settings: dict[str, Any] | None = None, where: str = "workspace",
               ) -> tuple[Any, Any, Any]:
    r"""Validates a workspace and returns ``(workspace, model, data)`` (data with auxdata).

    Arguments:
        spec: The workspace dict.
        measurement: The measurement name (the first one by default).
        modifier_settings: Interpolation codes (default :data:`MODIFIER_SETTINGS`, as
            ``pyhf cls``).
        where: For messages.
    """
    import pyhf

    ws = validate_workspace(spec, where=where)
    try:
        model = ws.model(measurement_name=measurement,
                         modifier_settings=modifier_settings or MODIFIER_SETTINGS)
        data = ws.data(model)
    except pyhf.exceptions.InvalidMeasurement as err:
        names = [m["name"] for m in spec.get("measurements", [])]
        raise WorkspaceError(f"{where}: {err}; measurements: {', '.join(names)}") from None
    except (pyhf.exceptions.InvalidModel, pyhf.exceptions.InvalidWorkspaceOperation,
            pyhf.exceptions.InvalidModifier) as err:
        raise WorkspaceError(f"{where}: cannot build the model: {err}") from None
    if model.config.poi_index is None:
        raise WorkspaceError(f"{where}: the measurement defines no parameter of interest")
    return ws, model, data


def export_workspace(spec: dict[str, Any], path: str | os.PathLike, *,
                     force: bool = False) -> Path:
    r"""Validates and writes a workspace as JSON (atomically; no overwrite without ``force``).

    Arguments:
        spec: The workspace dict.
        path: The output JSON file.
        force: Whether an existing file may be replaced.
    """
    validate_workspace(spec, where=f"workspace for {str(path)!r}")
    return write_json(path, spec, force=force)
