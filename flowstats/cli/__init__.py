r"""The ``flowstats`` command line.

One subcommand per pipeline stage, each in its own module of this package and loaded only when
called (so ``flowstats --help`` stays fast and ``torch`` is imported only by the stages that
train). Errors caused by the input print one line on stderr and exit with status 2; internal
errors exit with status 1 (with the traceback under ``-v``).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from .. import __version__
from ..exceptions import FlowstatsError

__all__ = ["cli", "echo_json", "main", "split_names"]

#: subcommand name -> "module:attribute", imported lazily
COMMANDS: dict[str, str] = {
    "convert": "flowstats.cli.convert:convert",
    "generate": "flowstats.cli.generate:generate",
    "train": "flowstats.cli.train:train",
    "evaluate": "flowstats.cli.evaluate:evaluate",
    "unweight": "flowstats.cli.unweight:unweight",
    "score": "flowstats.cli.score:score",
    "fit": "flowstats.cli.fit:fit",
    "bumphunt": "flowstats.cli.bumphunt:bumphunt",
    "demo": "flowstats.cli.demo:demo",
}


class LazyGroup(click.Group):
    r"""A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        for name, target in COMMANDS.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                names.add(name)
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name == module:
                    return None
                raise
            return getattr(mod, attr)
        return super().get_command(ctx, name)


class RegistryChoice(click.Choice):
    r"""A :class:`click.Choice` whose choices are a registry's names, looked up when first
    needed (parsing, ``--help`` of the subcommand), so that ``flowstats --help`` loads no
    registry (nor the modules and plugins behind it).

    Arguments:
        names: Returns the choices (e.g. ``flowstats.registry.METHODS.names``).
    """

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: Any) -> None:  # click.Choice.__init__ sets it
        pass

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as err:
            from ..exceptions import closest

            hint = closest(str(value), self.choices)
            if hint:
                err.message = f"{err.message.rstrip('.')} (did you mean {hint[0]!r}?)"
            raise


def method_names() -> tuple[str, ...]:
    r"""The ``--method`` choices: the registered anomaly methods (plugins included)."""
    from ..registry import METHODS

    return METHODS.names()


def format_names() -> tuple[str, ...]:
    r"""The ``--format`` choices: the registered output writers."""
    from ..registry import WRITERS

    return WRITERS.names()


#: ``--format``, shared by the subcommands that write events (``fmt`` in the function)
format_option = click.option(
    "--format", "fmt", type=RegistryChoice(format_names), default="ttree",
    show_default=True, help="Output format: a TTree (read by every ROOT version) or an RNTuple.")


#: flowstats.flows.models.KINDS and BASES (not imported here: torch would load with the CLI)
KINDS = ("nsf", "maf", "realnvp", "cnf")
BASES = ("normal", "studentt")


def flow_options(default_kind: str | None = "nsf") -> Any:
    r"""The ``--kind``, ``--base`` and ``--nu`` options of every command that trains a flow."""
    def decorate(f: Any) -> Any:
        f = click.option("--nu", type=float, default=None,
                         help="Degrees of freedom of the Student-t base [1].")(f)
        f = click.option("--base", type=click.Choice(BASES), default=None,
                         help="Base distribution of the flow [normal].")(f)
        return click.option("--kind", type=click.Choice(KINDS), default=default_kind,
                            show_default=default_kind is not None,
                            help="Flow: nsf (splines), maf, realnvp (coupling) or cnf "
                                 "(continuous, FFJORD).")(f)
    return decorate


def base_options(base: str | None, nu: float | None) -> dict[str, Any]:
    r"""The ``base``/``nu`` flow options given on the command line."""
    return {**({"base": base} if base else {}), **({"nu": nu} if nu is not None else {})}


def chosen_flow(kind: str | None, base: str | None, nu: float | None) -> dict[str, Any]:
    r"""The ``kind``/``base``/``nu`` flow options given on the command line (empty if none)."""
    return {**({"kind": kind} if kind else {}), **base_options(base, nu)}


def split_names(values: tuple[str, ...]) -> list[str]:
    r"""Names given comma-separated, repeated, or both (``--features a,b --features c``)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def echo_json(data: Any) -> None:
    r"""Prints ``data`` as indented JSON on stdout (numpy scalars and arrays allowed)."""
    from .._utils import _json_default

    click.echo(json.dumps(data, indent=2, default=_json_default))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="flowstats")
@click.option("-v", "--verbose", count=True, help="More log messages: -v info, -vv debug.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads of torch, OpenMP and BLAS together (default: FLOWSTATS_THREADS, "
                   "else OMP_NUM_THREADS, else the cores available shared among the running "
                   "flowstats jobs, followed as they start and end). A number fixes it, and "
                   "with it a rerun's numbers to the last bit.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, threads: int | None) -> None:
    r"""flowstats: normalizing flows for unweighting and enhanced bump hunts."""
    from .._threads import configure

    configure(threads)
    level = (logging.ERROR if quiet else logging.WARNING if verbose == 0
             else logging.INFO if verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("flowstats").setLevel(level)
    # dask configures its own loggers at INFO: follow -v/-q for them too
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(level if verbose >= 2 else max(level, logging.WARNING))
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def main(argv: list[str] | None = None) -> int:
    r"""Runs the CLI and turns exceptions into exit codes: 2 for bad input, 1 internal."""
    try:
        cli.main(args=argv, prog_name="flowstats", standalone_mode=False)
    except FlowstatsError as err:
        click.echo(f"flowstats: error: {err}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("flowstats: aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("flowstats: interrupted", err=True)
        return 130
    except Exception as err:  # internal error
        verbose = "-v" in (argv or sys.argv) or "--verbose" in (argv or sys.argv)
        if verbose:
            import traceback

            traceback.print_exc()
        click.echo(f"flowstats: internal error: {type(err).__name__}: {err}"
                   + ("" if verbose else " (run with -v for the traceback)"), err=True)
        return 1
    return 0


def run() -> None:
    r"""Console-script entry point."""
    sys.exit(main())
