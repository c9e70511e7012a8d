"""Sphinx configuration of the flowstats documentation (``make docs``).

The build is strict: ``make docs`` runs ``sphinx-build -W --keep-going -n``, so a broken link, a
missing reference or a tutorial cell that raises fails it. Tutorials are MyST-NB notebooks
written as Markdown (``docs/tutorials/*.md``) and executed on every build, in a temporary
directory, on data that ships with the package or is generated.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# the tutorials find the repository (and ../shared/data beside it) through this variable,
# whatever temporary directory they execute in; their flowstats commands show no progress bars
os.environ.setdefault("FLOWSTATS_ROOT", str(ROOT))
os.environ.setdefault("FLOWSTATS_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# The notebooks' kernels start in an IPython profile of this build's own (a temporary IPython
# directory: the user's ~/.ipython is neither read nor written), which
# * logs only errors (ipykernel's notice about its local TCP transport would stand in every log);
# * runs the startup file below: a ``%%bash`` cell magic that prints a command's output at once,
#   as a terminal shows it (IPython's streams it in 100-character pieces, which the rendered
#   page would break into separate lines) and fails the build when the command fails;
# and the kernels find a ``flowstats`` command on PATH that runs this Python's flowstats.
_ipython = Path(tempfile.mkdtemp(prefix="flowstats-docs-ipython-"))
atexit.register(shutil.rmtree, _ipython, ignore_errors=True)
(_ipython / "profile_default" / "startup").mkdir(parents=True)
(_ipython / "profile_default" / "ipython_kernel_config.py").write_text(
    'c.IPKernelApp.log_level = "ERROR"\n')
(_ipython / "profile_default" / "startup" / "00-flowstats-docs.py").write_text('''
import subprocess as _subprocess
import sys as _sys

from IPython.core.magic import register_cell_magic as _register_cell_magic


@_register_cell_magic
def bash(line, cell):
    done = _subprocess.run(["bash", "-c", cell], capture_output=True, text=True)
    _sys.stdout.write(done.stdout)
    _sys.stderr.write(done.stderr)
    if done.returncode:
        raise _subprocess.CalledProcessError(done.returncode, cell)


del bash
''')
(_ipython / "bin").mkdir()
(_ipython / "bin" / "flowstats").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m flowstats "$@"\n')
(_ipython / "bin" / "flowstats").chmod(0o755)
os.environ["IPYTHONDIR"] = str(_ipython)
os.environ["PATH"] = f"{_ipython / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

import flowstats  # noqa: E402

project = "flowstats"
author = "flowstats developers"
copyright = "2026, flowstats developers"
release = flowstats.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "sphinx_copybutton",
    "flowstats_schema",  # docs/_ext: the configuration keys from flowstats/schema/*.json
    "flowstats_xref",  # docs/_ext: links flowstats.read_events etc. to where they are documented
    "flowstats_api",  # docs/_ext: the table of flowstats' lazily imported entry points
    "flowstats_settings",  # docs/_ext: settings models (pydantic) as a table of their fields
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
root_doc = "index"

# MyST
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "fieldlist"]
myst_heading_anchors = 3

# MyST-NB: execute every notebook on every build, fail on any error
nb_execution_mode = os.environ.get("FLOWSTATS_DOCS_EXECUTE", "force")
nb_execution_raise_on_error = True
nb_execution_timeout = 1200
nb_execution_in_temp = True
nb_execution_show_tb = True
nb_merge_streams = True

# autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# zuko-style docstrings: "Arguments:" is napoleon's own alias of "Parameters:" (so the types of
# the annotations join each argument, autodoc_typehints = "description"); "References:" is
# rendered as a note, its author lines kept as text (_plain_references below)
napoleon_custom_sections = [("References", "notes_style")]

# external types named in signatures are not documented here; everything of flowstats must be
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(np|numpy|torch|zuko|pd|pandas|pyhf|hist|bh|boost_histogram|uproot|awkward|ak"
               r"|click|dask|distributed|scipy|sklearn|matplotlib|plt|iminuit|collections|typing"
               r"|pathlib|os|io|contextlib|logging|concurrent)(\..*)?"),
    (r"py:.*", r"(Any|Path|Sequence|Mapping|Iterator|Iterable|Callable|ArrayLike|NDArray|"
               r"Figure|Axes|Tensor|Module|Generator|Literal|Self|TypeAlias|PathLike)"),
    # the type variables of flowstats.registry's generic classes (Registry[E], DerivedMapping)
    # and of flowstats.settings.Settings.parse (S, a Settings subclass)
    (r"py:(class|obj)", r"(flowstats\.registry\.)?[EV]"),
    (r"py:(class|obj)", r"flowstats\.settings\.S"),
    # pydantic, the base of the settings models (flowstats.settings), is not documented here
    (r"py:.*", r"pydantic(_core)?(\..*)?"),
    # private bases that public classes name (their members are documented on the classes)
    (r"py:class", r"flowstats\.[\w.]+\._\w+"),
]

html_theme = "furo"
html_title = f"flowstats {release}"
html_static_path = ["_static"]
html_css_files = ["flowstats.css"]
html_theme_options = {"navigation_with_keys": True}


def _no_inline_attribute_type(app, what, name, obj, options, lines):
    """Napoleon reads the first line of a data/attribute docstring as ``type: description``;
    flowstats' ``#:`` comments are prose ("default classifier of cathode: the MLP"), never
    typed: an empty comment as the first line stops napoleon from making a type of the text
    before a colon."""
    if what in ("data", "attribute", "property") and lines and lines[0].strip():
        lines[:0] = ["..", ""]


_ENUMERATOR = re.compile(r"^(\s+)([A-Za-z]|[0-9]+|[ivxlcdmIVXLCDM]+)([.)] )")


def _plain_references(app, what, name, obj, options, lines):
    """A ``References:`` section lists authors ("K. Cranmer et al., ..."): a line starting with
    an initial and a full stop is text, not an enumerated list (escaped for reStructuredText)."""
    inside = False
    for i, line in enumerate(lines):
        if line.strip() == "References:":
            inside = True
        elif inside and line.strip() and not line[:1].isspace():
            inside = False
        elif inside:
            lines[i] = _ENUMERATOR.sub(r"\1\\\2\3", line)


def setup(app):
    # before napoleon's own handler (priority 500)
    app.connect("autodoc-process-docstring", _no_inline_attribute_type, priority=400)
    app.connect("autodoc-process-docstring", _plain_references, priority=400)
