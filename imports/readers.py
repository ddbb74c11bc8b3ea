"""Opening an uploaded file: CSV (encoding and delimiter detected) or XLSX, streamed row by row
so memory does not grow with the file."""

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
DELIMITERS = ",;\t"
# csv's default limit (128 KB a field) refuses long notes pasted into a cell.
csv.field_size_limit(16 * 1024 * 1024)


class ImportFileError(Exception):
    """The file cannot be imported; the message tells the admin why."""


@dataclass
class FileInfo:
    file_format: str
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    sheets: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)


def _is_valid(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def detect_encoding(path: Path, sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        if _is_valid(path, encoding):
            return encoding
    return "latin-1"


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    controls = sum(byte < 9 or 13 < byte < 32 for byte in sample)
    return controls > len(sample) // 100


def detect_delimiter(text: str) -> str:
    lines = text.splitlines()[:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def sniff_file(path: Path) -> str:
    """ "csv" or "xlsx" from the first bytes only, refusing what is plainly not importable
    (empty, binary, a .xlsx that is not a ZIP) at once; everything else is read later, by a
    worker, with limits (imports.inspection)."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ImportFileError("The file is empty.")
    if sample.startswith(b"PK\x03\x04"):
        return "xlsx"
    if path.suffix == ".xlsx":
        raise ImportFileError("This file is not an Excel workbook (.xlsx) Cadence can read.")
    if _looks_binary(sample) and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(_BINARY)
    return "csv"


_BINARY = (
    "This is not a CSV or XLSX file (it contains binary data). Export the list as CSV "
    "or Excel .xlsx and upload that."
)


def inspect_file(path: Path, *, sheet: str = "") -> FileInfo:
    """What the file is and its header row; ImportFileError if it cannot be imported."""
    if sniff_file(path) == "xlsx":
        info = _inspect_xlsx(path, sheet)
    else:
        with path.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
        encoding = detect_encoding(path, sample)
        text = sample.decode(encoding, errors="ignore")
        info = FileInfo(file_format="csv", encoding=encoding, delimiter=detect_delimiter(text))
    rows = iter_rows(path, info)
    header = next(rows, None)
    if header is None or not any(cell.strip() for cell in header[1]):
        raise ImportFileError("The file is empty.")
    info.headers = [cell.strip() for cell in header[1]]
    if next(rows, None) is None:
        raise ImportFileError("The file has a header row but no data rows.")
    return info


def _open_workbook(path: Path):
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ImportFileError(
            "This file is a ZIP archive but not an Excel workbook (.xlsx) Cadence can read."
        ) from exc


def _inspect_xlsx(path: Path, sheet: str) -> FileInfo:
    workbook = _open_workbook(path)
    try:
        names = list(workbook.sheetnames)
    finally:
        workbook.close()
    if sheet and sheet not in names:
        raise ImportFileError(f"The workbook has no sheet {sheet!r} (it has: {', '.join(names)}).")
    return FileInfo(file_format="xlsx", sheet=sheet or names[0], sheets=names)


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read, for the progress bar."""

    def __init__(self, handle):
        self.handle, self.count = handle, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        read = self.handle.readinto(buffer)
        self.count += read or 0
        return read


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def iter_rows(path: Path, info: FileInfo) -> Iterator[tuple[int, list[str], float]]:
    """(row number, cells, share of the file read) for each non-blank row, header first; row
    numbers are those a spreadsheet shows (the header is row 1)."""
    if info.file_format == "xlsx":
        yield from _iter_xlsx(path, info.sheet)
        return
    size = max(path.stat().st_size, 1)
    with path.open("rb") as raw:
        counter = _CountingReader(raw)
        text = io.TextIOWrapper(io.BufferedReader(counter), encoding=info.encoding, newline="")
        for number, cells in enumerate(csv.reader(text, delimiter=info.delimiter), start=1):
            if any(cell.strip() for cell in cells):
                yield number, cells, min(counter.count / size, 1.0)


def _iter_xlsx(path: Path, sheet: str) -> Iterator[tuple[int, list[str], float]]:
    workbook = _open_workbook(path)
    try:
        worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
        total = max(worksheet.max_row or 0, 1)
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            cells = [_cell(value) for value in values]
            if any(cell.strip() for cell in cells):
                yield number, cells, min(number / total, 1.0)
    finally:
        workbook.close()
