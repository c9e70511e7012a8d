"""Registries and plugins: the example plugin method through ``flowstats score`` and
``flowstats bumphunt``, entry-point loading, and the lists derived from the registries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

from flowstats.exceptions import BadInputError, PluginError
from flowstats.registry import FIT_FAMILIES, METHODS, WRITERS, FitFamily, Method, Registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin_method"
FEATURES = "mj1,delta_mj,tau21_j1,tau21_j2"


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowstats", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    r"""The example plugin installed into a temporary directory, and a small dijet sample."""
    tmp = tmp_path_factory.mktemp("plugin")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source)  # building writes build/ and *.egg-info next to it
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target),
                    str(source)], check=True, capture_output=True, text=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(target), *filter(None, [os.environ.get("PYTHONPATH")])]), "OMP_NUM_THREADS": "1"}
    sample = tmp / "dijet.root"
    done = _run(["generate", "dijet", "-o", str(sample), "--n-background", "20000",
                 "--n-signal", "300"], env, tmp)
    assert done.returncode == 0, done.stderr
    return {"env": env, "sample": sample, "tmp": tmp}


def test_score_with_plugin_method(plugin, tmp_path):
    out = tmp_path / "scores.root"
    done = _run(["score", str(plugin["sample"]), "--features", FEATURES, "--method",
                 "example_mean", "--sr", "3300:3700", "-o", str(out)], plugin["env"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["method"] == "example_mean"
    with uproot.open(out) as f:
        scores = f["scores"].arrays(["entry", "score", "fold", "region"], library="np")
    with uproot.open(plugin["sample"]) as f:
        events = f["events"].arrays([*FEATURES.split(","), "mjj"], library="np")
    x = np.column_stack([events[n] for n in FEATURES.split(",")]).astype(np.float64)
    m = events["mjj"]
    region = np.where((m >= 3300) & (m < 3700), 1, 0)
    assert np.array_equal(scores["region"], region)
    side = x[region == 0]
    d = x - side.mean(axis=0)
    expected = np.sqrt(np.einsum("ij,jk,ik->i", d, np.linalg.inv(np.cov(side, rowvar=False)), d))
    np.testing.assert_allclose(scores["score"], expected[scores["entry"]], rtol=1e-9)
    assert np.all(scores["fold"] == -1)
    prov = json.loads((tmp_path / "scores.provenance.json").read_text())
    assert prov["info"]["n_sideband"] == int((region == 0).sum())


def test_bumphunt_with_plugin_method(plugin, tmp_path):
    base = ["bumphunt", str(plugin["sample"]), "--features", FEATURES, "--method",
            "example_mean", "--sr", "3300:3700", "--efficiency", "0.2", "--no-plots"]
    refused = _run([*base, "-o", str(tmp_path / "refused")], plugin["env"], tmp_path)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "example_mean" in lines[0] and "--allow-sculpting" in lines[0]
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "hunt"
    done = _run([*base, "--allow-sculpting", "-o", str(out)], plugin["env"], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["config"]["method"] == "example_mean"
    rows = summary["windows"]
    assert sorted(r["efficiency"] for r in rows) == [0.2, 1.0]
    for row in rows:
        assert row["sr"] == [3300.0, 3700.0]
        # "ok", or "poor fit: ..." (a sideband fit p-value below fit_pvalue_min; still a result)
        assert row["status"] == "ok" or row["status"].startswith("poor fit"), row["status"]
        assert np.isfinite(row["z_local"])


class _EntryPoint:
    r"""A stand-in for ``importlib.metadata.EntryPoint``."""

    def __init__(self, name: str, target: object):
        self.name, self.value, self._target = name, f"fake_plugin:{name}", target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def _score(x, m, codes, names, **unused):
    return np.zeros(len(x)), np.full(len(x), -1), {}, None


def test_registry_closest_name_and_entry_points(caplog):
    reg = Registry("method", Method)
    reg.register(Method("alpha_score", _score))
    assert "alpha_score" in reg and reg.names() == ("alpha_score",)
    with pytest.raises(BadInputError, match=r"unknown method 'alpha_scor'; use one of "
                                            r"alpha_score \(did you mean 'alpha_score'\?\)"):
        reg.get("alpha_scor")
    with pytest.raises(ValueError, match="registered already"):
        reg.register(Method("alpha_score", lambda *a, **k: None))
    reg.register(Method("alpha_score", _score, description="new"), replace=True)
    assert reg.get("alpha_score").description == "new"
    good = Method("beta_score", _score)
    with caplog.at_level("WARNING", logger="flowstats.registry"):
        reg.load_entry_points([_EntryPoint("beta_score", good),
                               _EntryPoint("gamma_score", lambda: Method("gamma_score", _score)),
                               _EntryPoint("broken", ImportError("No module named 'nowhere'")),
                               _EntryPoint("wrong", 42)])
    assert reg.names() == ("alpha_score", "beta_score", "gamma_score")
    assert reg.get("beta_score") is good
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "plugin 'broken'" in warnings[0] and "No module named 'nowhere'" in warnings[0]
    assert "plugin 'wrong'" in warnings[1] and "not a flowstats.registry.Method" in warnings[1]
    with pytest.raises(PluginError, match=r"^plugin 'broken' \(fake_plugin:broken\) .*failed to "
                                          r"load: ImportError: No module named 'nowhere'$"):
        reg.get("broken")
    with pytest.raises(TypeError, match="sculpting_reason"):
        Method("x", _score, sculpts=True)


def test_entry_points_are_loaded_lazily_once(monkeypatch):
    from flowstats import registry

    calls = []

    def fake(group):
        calls.append(group)
        return [_EntryPoint("delta_score", Method("delta_score", _score))]

    monkeypatch.setattr(registry, "_entry_points", fake)
    reg = Registry("method", Method, group="test.group")
    reg.register(Method("builtin_score", _score))
    assert calls == []  # registering does not load the plugins
    assert reg.names() == ("builtin_score", "delta_score")
    reg.get("delta_score")
    assert "delta_score" in reg and len(reg) == 2
    assert calls == ["test.group"]


def test_broken_plugin_is_one_line_on_the_cli(monkeypatch, capsys):
    from flowstats import registry
    from flowstats.cli import main

    monkeypatch.setattr(METHODS, "_failed", {"ghost": "plugin 'ghost' (ghost_pkg:METHOD) of "
                                             "entry-point group 'flowstats.methods' failed to "
                                             "load: ImportError: No module named 'ghost_pkg'"})
    assert registry.METHODS.failed["ghost"].startswith("plugin 'ghost'")
    from flowstats.anomaly import score

    with pytest.raises(PluginError, match="plugin 'ghost'"):
        score(np.zeros((10, 1)), np.zeros(10), method="ghost", sr=(1, 2))
    assert main(["score", "x.root", "--features", "a", "--method", "ghost", "--sr", "1:2",
                 "-o", "y.root"]) == 2
    err = capsys.readouterr().err
    assert "'ghost' is not one of" in err and "Traceback" not in err


def test_plugin_method_and_family_join_the_derived_lists():
    from flowstats.bumphunt.scan import SCULPTING_METHODS
    from flowstats.bumphunt.statistics import TEMPLATE_METHODS
    from flowstats.config import schema, validate
    from flowstats.exceptions import ConfigError
    from flowstats.stats.functions import FAMILIES, FUNCTIONS

    method = Method("zeta_score", _score, sculpts=True, sculpting_reason="it is a test",
                    has_template=True)
    family = FitFamily("flat", lambda f, m, **kw: np.ones(np.shape(m) + (f.npar,)),
                       orders=(1,))
    METHODS.register(method)
    FIT_FAMILIES.register(family)
    try:
        assert SCULPTING_METHODS["zeta_score"] == "it is a test"
        assert "zeta_score" in TEMPLATE_METHODS
        assert "flat1" in FUNCTIONS and "flat" not in FAMILIES  # no auto orders
        assert "zeta_score" in schema()["properties"]["method"]["enum"]
        validate({"method": "zeta_score", "function": "flat1"})
    finally:
        METHODS.unregister("zeta_score")
        FIT_FAMILIES.unregister("flat")
    assert "zeta_score" not in TEMPLATE_METHODS and "flat1" not in FUNCTIONS
    with pytest.raises(ConfigError, match=r"bad value at 'method'.*\(did you mean "
                                          r"'cathode'\?\)$"):
        validate({"method": "cathod"})


def test_former_lists_equal_the_registry_views():
    from flowstats.anomaly import METHOD_NAMES, OPTIONS
    from flowstats.anomaly.methods import METHODS as FUNCTIONS_BY_METHOD
    from flowstats.bumphunt.scan import SCULPTING_METHODS
    from flowstats.bumphunt.statistics import TEMPLATE_METHODS
    from flowstats.cli.bumphunt import bumphunt, function_names
    from flowstats.cli.score import score
    from flowstats.config import schema
    from flowstats.io import FORMATS
    from flowstats.stats.functions import FAMILIES, FUNCTIONS

    names = METHODS.names()
    # the built-ins, in their historical order (plugins, when installed, come after them)
    assert names[:6] == ("cathode", "anode", "ranode", "cwola", "bootstrap", "density")
    assert tuple(METHOD_NAMES) == names
    assert set(FUNCTIONS_BY_METHOD) == set(names)
    assert set(OPTIONS) >= {"flow", "fit", "classifier", "classifier_options", "k",
                            "oversample", "alpha", "iterations", "max_flow_events", "n_mass",
                            "space", "signal_fraction", "whiten", "fresh_template"}
    assert set(OPTIONS) == {o for e in METHODS for o in e.options}
    assert tuple(TEMPLATE_METHODS) == tuple(sorted(e.name for e in METHODS if e.has_template))
    assert TEMPLATE_METHODS[:3] == ("cathode", "density", "ranode")
    assert dict(SCULPTING_METHODS) == {e.name: e.sculpting_reason for e in METHODS if e.sculpts}
    assert "cwola" in SCULPTING_METHODS and METHODS.get("ranode").template_latent_only
    families = [f for f in FIT_FAMILIES if f.name in ("dijet", "expo", "power")]
    assert [f.name for f in families] == ["dijet", "expo", "power"]
    assert list(FUNCTIONS)[:12] == ["dijet3", "dijet4", "dijet5", *(f"expo{n}" for n in
                                    range(1, 7)), "power2", "power3", "power4"]
    assert dict(FAMILIES)["expo"] == ("expo2", "expo3", "expo4")
    assert tuple(FORMATS) == WRITERS.names() == ("ttree", "rntuple")
    props = schema()["properties"]
    assert props["method"]["enum"] == list(names)
    assert props["function"]["enum"] == ["auto", *FUNCTIONS] == list(function_names())
    for command in (score, bumphunt):
        method = next(p for p in command.params if p.name == "method")
        assert tuple(method.type.choices) == names
    fmt = next(p for p in score.params if p.name == "fmt")
    assert tuple(fmt.type.choices) == WRITERS.names()


def test_cli_start_does_not_load_registries():
    code = ("import sys\nfrom flowstats.cli import main\nmain(['--help'])\n"
            "print(sorted(m for m in ('torch', 'flowstats.registry', 'flowstats.anomaly',"
            " 'flowstats.stats') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_broken_installed_plugin_gives_one_warning_line(tmp_path):
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[flowstats.methods]\n"
                                           "mymethod = broken_plugin_module:METHOD\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = _run(["score", "x.root", "--features", "a", "--method", "mymethod", "--sr", "1:2",
                 "-o", "y.root"], env, tmp_path)
    assert done.returncode == 2
    warning = [line for line in done.stderr.splitlines() if "plugin 'mymethod'" in line]
    assert warning == ["WARNING flowstats.registry: plugin 'mymethod' (broken_plugin_module:"
                       "METHOD) of entry-point group 'flowstats.methods' failed to load: "
                       "ModuleNotFoundError: No module named 'broken_plugin_module'; skipped"]
    assert "Traceback" not in done.stderr and "'mymethod' is not one of" in done.stderr


_OPTION_CHECK = r"""
import json, sys
import numpy as np
import flowstats_example_mean as plugin
from flowstats.anomaly import score
from flowstats.config import resolve_config
from flowstats.exceptions import ConfigError
from flowstats.datasets import dijet

d = dijet.generate(20000, 300, seed=4)
names = ["mj1", "delta_mj", "tau21_j1", "tau21_j2"]
x = np.stack([d[n] for n in names], axis=1)
out = {}
for s in (0.0, 0.5):
    r = score(x, d["mjj"], method="example_mean", sr=(3300, 3700), names=names, shrinkage=s)
    side = x[r.region == 0]
    out[str(s)] = bool(np.allclose(r.score, plugin.mahalanobis(x, side, s), rtol=1e-12))
config = {"input": "f.root", "features": names, "method": "example_mean",
          "sr": [3300, 3700], "score_options": {"shrinkage": 0.5}}
out["resolved"] = resolve_config(config)["score_options"]["shrinkage"]
try:
    resolve_config({**config, "score_options": {"shrinkag": 0.5}})
except ConfigError as err:
    out["typo"] = str(err)
print(json.dumps(out))
"""


def test_plugin_options_pass_through_the_settings(plugin, tmp_path):
    # an option the plugin declares (its registry entry's `options`) is accepted by score() and
    # in a configuration's score_options, and reaches the method; a misspelt one is named
    done = subprocess.run([sys.executable, "-c", _OPTION_CHECK], env=plugin["env"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["0.0"] and out["0.5"] and out["resolved"] == 0.5
    assert "unknown key 'score_options.shrinkag' (did you mean 'shrinkage'?)" in out["typo"]
