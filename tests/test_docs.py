"""The reference pages of the documentation cannot go stale: every key the commands write is
documented (docs/reference/outputs.md), every configuration key is rendered
(docs/_ext/flowstats_schema_rows.py), every exception and every subcommand is listed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import pytest

from flowstats import exceptions
from flowstats.cli import COMMANDS, cli, main
from flowstats.datasets import dijet, write

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCHEMAS = Path(__file__).resolve().parents[1] / "flowstats" / "schema"


def _page(name: str) -> str:
    return (DOCS / "reference" / name).read_text()


def _undocumented(keys, text: str) -> list[str]:
    return sorted({k for k in keys if f"`{k}`" not in text})


@pytest.fixture(scope="module")
def dijet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs") / "dijet.root"
    columns = dijet.generate(n_background=20_000, n_signal=200, seed=1)
    # a positive weight branch, for the rows' weighted keys
    columns["w"] = np.random.default_rng(1).uniform(0.5, 1.5, len(columns["mjj"]))
    write(path, columns, tree="events")
    return path


def _hunt(path: Path, out: Path, *extra: str) -> dict:
    """A tiny bump hunt (density score, MAF flow, one epoch): a few seconds on one thread."""
    code = main(["bumphunt", str(path), "--features", "mj1,delta_mj", "--method", "density",
                 "--epochs", "1", "--kind", "maf", "--efficiency", "0.2", "--no-plots",
                 "-o", str(out), *extra])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


def test_outputs_page_lists_every_bumphunt_summary_key(dijet_file, tmp_path):
    text = _page("outputs.md")
    # a scan with the closure check and the BumpHunter global significance (most keys);
    # --config sets the number of pseudo-experiments, which has no option of its own
    config = tmp_path / "hunt.yaml"
    config.write_text("bumphunter_toys: 200\n")
    scan = _hunt(dijet_file, tmp_path / "scan", "--config", str(config), "--label", "label",
                 "--scan", "3100:3700", "--window-width", "400", "--window-step", "200",
                 "--closure", "--global-method", "bumphunter")
    # the template background (its own row keys) and weighted events (theirs)
    template = _hunt(dijet_file, tmp_path / "template", "--sr", "3300:3700", "--background",
                     "template")
    weighted = _hunt(dijet_file, tmp_path / "weighted", "--sr", "3300:3700", "--weight", "w")
    assert "closure" in scan and "bumphunter" in scan and "gross_vitells" in scan
    assert any("template_efficiency" in r for r in template["windows"])
    assert any("weight_scale" in r for r in weighted["windows"])

    keys: set[str] = set()
    for summary in (scan, template, weighted):
        keys |= set(summary)
        for row in summary["windows"]:
            keys |= set(row)
        for block in ("timing", "seeds", "provenance", "gross_vitells"):
            keys |= set(summary.get(block, {}))
        for entry in summary.get("global_by_efficiency", {}).values():
            keys |= set(entry)
    keys |= set(scan["closure"])
    for row in scan["closure"]["rows"]:
        keys |= set(row)
    keys |= set(scan["bumphunter"])
    for entry in scan["bumphunter"]["by_efficiency"].values():
        keys |= set(entry)
    assert not _undocumented(keys, text), (
        "keys of summary.json missing from docs/reference/outputs.md")
    # the CSV columns too
    from flowstats.bumphunt.outputs import CSV_COLUMNS

    assert not _undocumented(CSV_COLUMNS, text)


def test_outputs_page_lists_every_unweight_report_key(tiny_unweight):
    assert tiny_unweight.code == 0, tiny_unweight.err
    summary = json.loads((tiny_unweight.dir / "report" / "summary.json").read_text())
    assert "worth" in summary
    keys = set(summary) | set(summary["worth"]) | set(summary["worth"]["summary"]) \
        | set(summary["timings"]) | set(summary["input"]) | set(summary["split"]) \
        | set(summary["output"]) | set(summary["classifier"]) | set(summary["test"])
    assert not _undocumented(keys, _page("outputs.md"))


def _schema_paths(schema: dict, prefix: str = "") -> list[str]:
    paths = []
    for name, spec in schema.get("properties", {}).items():
        paths.append(prefix + name)
        if isinstance(spec.get("properties"), dict):
            paths += _schema_paths(spec, f"{prefix}{name}.")
    return paths


def test_configuration_tables_render_every_schema_key(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS / "_ext"))
    sys.modules.pop("flowstats_schema_rows", None)
    from flowstats_schema_rows import load_schema, schema_rows

    from flowstats.config import schema as validated

    page = _page("configuration.md")
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        assert f"{{flowstats-schema}} {path.name}" in page, path.name
        schema = load_schema(path.name)
        # the schema that validates configurations (enums of the registered names included)
        assert schema == validated(path.name.split(".")[0])
        assert _schema_paths(schema) == _schema_paths(json.loads(path.read_text()))
        rows = {r["key"]: r for r in schema_rows(schema)}
        assert set(_schema_paths(schema)) <= set(rows), path.name
        for key, spec in schema["properties"].items():
            if "default" in spec:
                assert json.loads(rows[key]["default"]) == spec["default"]
            for value in spec.get("enum", []):
                assert json.dumps(value) in rows[key]["allowed"]


def test_errors_page_lists_every_exception():
    text = _page("errors.md")
    classes = [name for name, obj in vars(exceptions).items()
               if isinstance(obj, type) and issubclass(obj, exceptions.FlowstatsError)]
    assert "FlowstatsError" in classes and len(classes) > 10
    missing = [c for c in classes if f"flowstats.exceptions.{c}" not in text]
    assert not missing, missing


def test_cli_page_sees_every_subcommand():
    # sphinx-click lists the lazy group's commands through list_commands / get_command
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert set(COMMANDS) <= set(names)
    assert all(isinstance(cli.get_command(ctx, n), click.Command) for n in COMMANDS)
    assert ".. click:: flowstats.cli:cli" in _page("cli.md")
    assert ":nested: full" in _page("cli.md")
