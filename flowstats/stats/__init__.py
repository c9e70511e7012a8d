r"""Statistics for flowstats: histograms, background fits, pyhf models, significances, limits.

Small namespaces, in the style of :mod:`pyhf.infer`:

* :mod:`~flowstats.stats.hist` - weighted histograms (hist/boost-histogram), TH1 input/output;
* :mod:`~flowstats.stats.functions` - dijet (3/4/5 parameters) and exponential families;
* :mod:`~flowstats.stats.background_fit` - binned Poisson likelihood fits with iminuit (sidebands or full
  range, + signal), F-test / chi2 choice of the function, spurious-signal test;
* :mod:`~flowstats.stats.workspace` - HistFactory workspaces: build, validate (with the JSON path
  of a failure), patch (JSON patch or patchset), export;
* :mod:`~flowstats.stats.infer` - MLE (minuit HESSE/MINOS), discovery :math:`Z_0`, CLs and
  upper limits (asymptotic, pyhf's numbers with cached fits);
* :mod:`~flowstats.stats.toys` - seeded toy-based CLs and :math:`Z_0`, in parallel with dask;
* :mod:`~flowstats.stats.lee` - look-elsewhere effect: Gross-Vitells and toys;
* :mod:`~flowstats.stats.window` - one-call window statistics for bump hunts.

Heavy imports (pyhf, iminuit, dask) happen inside the functions.
"""

from __future__ import annotations

from .background_fit import (
    BackgroundFit,
    SpuriousSignal,
    choose_function,
    fit_background,
    select_function,
    spurious_signal,
)
from .functions import FUNCTIONS, get_function
from .hist import check_data, make_hist, read_th1, to_arrays, write_th1
from .infer import AsymptoticCLs, UpperLimit, discovery, hypotest, mle, set_backend, upper_limit
from .lee import global_significance, gross_vitells, scan_q0, toys_pvalue, upcrossings
from .toys import toy_discovery, toy_hypotest
from .window import WindowResult, window_significance
from .workspace import (
    apply_patch,
    build_workspace,
    counting_workspace,
    export_workspace,
    gaussian_template,
    load_model,
    read_patch,
    read_workspace,
    validate_workspace,
)

__all__ = [
    "FUNCTIONS",
    "AsymptoticCLs",
    "BackgroundFit",
    "SpuriousSignal",
    "UpperLimit",
    "WindowResult",
    "apply_patch",
    "build_workspace",
    "check_data",
    "choose_function",
    "counting_workspace",
    "discovery",
    "export_workspace",
    "fit_background",
    "gaussian_template",
    "get_function",
    "global_significance",
    "gross_vitells",
    "hypotest",
    "load_model",
    "make_hist",
    "mle",
    "read_patch",
    "read_th1",
    "read_workspace",
    "scan_q0",
    "select_function",
    "set_backend",
    "spurious_signal",
    "to_arrays",
    "toy_discovery",
    "toy_hypotest",
    "toys_pvalue",
    "upcrossings",
    "upper_limit",
    "validate_workspace",
    "window_significance",
    "write_th1",
]
