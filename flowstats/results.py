r"""Results of finished runs, read back from their directories: :func:`load_result`.

A bump hunt's output directory gives a :class:`~flowstats.bumphunt.hunt_result.BumpHuntResult`, an
unweighting report directory an :class:`~flowstats.unweighting.unweight_result.UnweightResult`; both
are what :meth:`flowstats.BumpHunt.run` and :func:`flowstats.unweight` return.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .exceptions import BadInputError, InputFileNotFoundError

__all__ = ["load_result"]

_EXPECTED = ("expected a bump-hunt output directory (summary.json, scores.root) or an "
             "unweighting report directory (summary.json with input, split and output)")


def load_result(directory: str | os.PathLike) -> Any:
    r"""The result of a finished run, recognised by the files in ``directory``.

    Arguments:
        directory: A bump hunt's output directory (``summary.json`` and ``scores.root``) or an
            unweighting report directory (its ``summary.json``).

    Returns:
        A :class:`~flowstats.bumphunt.hunt_result.BumpHuntResult` or an
        :class:`~flowstats.unweighting.unweight_result.UnweightResult`.

    Raises:
        InputFileNotFoundError: ``directory`` does not exist.
        BadInputError: It holds neither (the message says what was expected).
    """
    path = Path(directory)
    if not path.exists():
        raise InputFileNotFoundError(str(path))
    if not path.is_dir():
        raise BadInputError(f"{path} is not a directory; {_EXPECTED}")
    from .bumphunt.hunt_result import BumpHuntResult, is_bumphunt_directory

    if is_bumphunt_directory(path):
        return BumpHuntResult.load(path)
    from .unweighting.unweight_result import UnweightResult, is_report_directory

    if is_report_directory(path):
        return UnweightResult.load(path)
    if (path / "state" / "fingerprint.txt").is_file() and not (path / "summary.json").exists():
        raise BadInputError(f"{path}: an unfinished bump hunt (no summary.json yet); run it "
                            "again with the same configuration to finish it")
    hint = ""
    if is_report_directory(path / "report"):
        hint = f" (the report directory {str(path / 'report')!r} is one)"
    have = sorted(p.name for p in path.iterdir())[:8]
    raise BadInputError(f"{path}: no result found, {_EXPECTED}{hint}; it holds "
                        + (", ".join(have) if have else "nothing"))
