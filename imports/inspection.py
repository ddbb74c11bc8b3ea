"""Reading an uploaded file's shape (format, encoding, delimiter, sheet, header row, first rows,
date order) in a child process with a memory and a time limit.

A hostile or broken upload must cost a refusal message, never a worker's memory or a web
request: an .xlsx of 200 KB can hold five million shared strings or a 300 MB cell, a CSV a 40 MB
field, a workbook an XML entity bomb. The child reads with openpyxl (which parses through
defusedxml when it is installed, as it is here: entity bombs are refused) and csv; if it runs
out of its address space (RLIMIT_AS) or time, it is stopped and the admin is told why.

Run as `python -m imports.inspection PATH SHEET MEGABYTES`: limits its own address space, then
prints one JSON object.
"""

import csv
import json
import resource
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from imports.readers import FileInfo, ImportFileError, inspect_file, iter_rows

DATE_SAMPLE_ROWS = 1_000
SAMPLE_ROWS = 5
SAMPLE_CHARS = 200


@dataclass
class Inspection:
    info: FileInfo
    date_order: str  # "dmy" / "mdy", or "" when the first rows do not tell
    dates_ambiguous: bool
    sample: list[list[str]]


def _first_rows(path: Path, info: FileInfo) -> tuple[str, bool, list[list[str]]]:
    """The file's date order from its first rows, whether they left it ambiguous, and the
    first few data rows to show beside the mapping."""
    from imports.values import date_order_hint

    votes, sample = set(), []
    for count, (_, cells, _) in enumerate(iter_rows(path, info)):
        if count > DATE_SAMPLE_ROWS:
            break
        if 1 <= count <= SAMPLE_ROWS:
            # Shown beside the mapping: cut long cells; PostgreSQL's JSON refuses NUL.
            sample.append([cell.replace("\x00", "")[:SAMPLE_CHARS] for cell in cells])
        votes.update(hint for cell in cells if (hint := date_order_hint(cell)))
    if len(votes) == 1:
        return votes.pop(), False, sample
    return "", not votes or len(votes) > 1, sample


def inspect_here(path: Path, sheet: str = "") -> Inspection:
    """The inspection itself, in this process (the child runs this)."""
    try:
        info = inspect_file(path, sheet=sheet)
        order, ambiguous, sample = _first_rows(path, info)
    except ImportFileError:
        raise
    except csv.Error as exc:
        raise ImportFileError(
            f"A cell of the file is too large to import ({exc}). Keep cells under 16 MB."
        ) from exc
    except MemoryError as exc:
        raise ImportFileError(_TOO_BIG) from exc
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ImportFileError(_DAMAGED.format(why=type(exc).__name__)) from exc
    except Exception as exc:  # defusedxml's and the XML parsers' refusals have many types
        raise ImportFileError(_DAMAGED.format(why=type(exc).__name__)) from exc
    return Inspection(info=info, date_order=order, dates_ambiguous=ambiguous, sample=sample)


_TOO_BIG = (
    "Reading this file needs more memory than an import may use ({limit} MB): it holds huge "
    "cells or far more text than its size suggests. Save it as CSV, or split it, and upload "
    "that."
)
_DAMAGED = (
    "This workbook could not be read safely ({why}): it is damaged, or not a plain .xlsx. "
    "Open it in Excel or LibreOffice, save it as .xlsx or CSV again, and upload that."
)


def inspect_isolated(path: Path, *, sheet: str, memory_mb: int, seconds: float) -> Inspection:
    """`inspect_here` in a child process limited to `memory_mb` of address space and
    `seconds`; ImportFileError with the reason when the file cannot be read within them."""

    # The child limits itself first thing (main): a preexec_fn is not safe in a worker that
    # runs threads (the heartbeat), as the child could deadlock before it starts.
    try:
        child = subprocess.run(
            [sys.executable, "-m", "imports.inspection", str(path), sheet, str(memory_mb)],
            capture_output=True,
            text=True,
            timeout=seconds,
            cwd=Path(__file__).resolve().parent.parent,
        )
    except subprocess.TimeoutExpired as exc:
        raise ImportFileError(
            f"Reading this file took longer than {seconds:.0f} s, the most an import may take "
            "to open a file. Save it as CSV, or split it, and upload that."
        ) from exc
    try:
        answer = json.loads(child.stdout)
    except ValueError:
        # Killed, or out of memory before it could say so.
        raise ImportFileError(_TOO_BIG.replace("{limit}", str(memory_mb))) from None
    if "error" in answer:
        raise ImportFileError(answer["error"].replace("{limit}", str(memory_mb)))
    return Inspection(
        info=FileInfo(**answer["info"]),
        date_order=answer["date_order"],
        dates_ambiguous=answer["dates_ambiguous"],
        sample=answer["sample"],
    )


def main(argv: list[str]) -> None:
    path, sheet = Path(argv[1]), argv[2] if len(argv) > 2 else ""
    if len(argv) > 3:
        limit = int(argv[3]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = asdict(inspect_here(path, sheet))
    except ImportFileError as exc:
        result = {"error": str(exc)}
    except MemoryError:
        result = {"error": _TOO_BIG}
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
