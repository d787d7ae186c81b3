"""Load labeled WDBC rows from the UCI file or a CSV with a header row.

Files are read through Beam's ``FileSystems``, so any path Beam can open
(local files, ``gs://`` with the GCP extra installed) works the same way.
"""

import bz2
import csv
import gzip
import hashlib
import io
import logging
import lzma
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import zstandard
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from wdbc import schema, storage

_LOGGER = logging.getLogger(__name__)

# The UCI copy bundled with the repository, resolved from this package so it
# works from any working directory (the project is installed editable).
DEFAULT_DATA_PATH = str(Path(__file__).resolve().parent.parent / "data" / "wdbc.data")

LABELS = (schema.MALIGNANT, schema.BENIGN)
_REQUIRED_HEADER_COLUMNS = (schema.ID_COLUMN, schema.LABEL_COLUMN) + (
    schema.FEATURE_NAMES
)
_HASH_CHUNK_BYTES = 1 << 20


class DataError(ValueError):
    """Invalid or unreadable input data; the message names file, row and fix."""


def file_sha256(path: str) -> str:
    """Return the hex sha256 of the file's bytes as stored."""
    digest = hashlib.sha256()
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            while chunk := handle.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    except storage.READ_ERRORS as error:
        raise _read_error(path, error, "check that the path exists") from error
    return digest.hexdigest()


def _read_error(path: str, error: Exception, advice: str) -> DataError:
    bucket_problem = storage.missing_bucket_message(path)
    if bucket_problem:
        return DataError(f"{path}: {bucket_problem}")
    return DataError(f"{path}: cannot read the file ({error}); {advice}")


def load_labeled(path: str, min_rows: int = 1) -> pd.DataFrame:
    """Read labeled rows into a DataFrame.

    Accepts the headerless UCI layout (id, diagnosis, 30 features) and a CSV
    whose header names match ``schema.FEATURE_NAMES``, ``id`` and
    ``diagnosis`` after ``schema.normalize_column_name``. Header columns may
    come in any order, and other columns are ignored. Rows may leave out
    header columns with empty names at the end of the header. Labels are
    read case-insensitively with surrounding whitespace removed. Returns
    columns ``id`` (str), ``diagnosis`` ("M" or "B") and the 30 features as
    float64, in schema order. Repeated ids are kept and logged as a warning.

    Raises DataError for a missing file, a truncated or corrupt compressed
    file, rows of the wrong width, labels other than M and B, missing,
    non-numeric or non-finite feature values, values outside the float32
    range, and fewer than ``min_rows`` data rows.
    """
    records = _read_records(path)
    records = [(line, fields) for line, fields in records if _has_content(fields)]
    if not records:
        raise DataError(f"{path}: the file has no rows; expected {_layout_hint()}")

    header_line, first_fields = records[0]
    if _looks_like_header(first_fields):
        positions = _header_positions(path, header_line, first_fields)
        width = len(first_fields)
        # A header line that ends with a comma names an empty last column,
        # which data lines without the trailing comma leave out.
        min_width = width - _trailing_unnamed_columns(first_fields)
        data = records[1:]
        layout = "header"
        width_hint = "one value per header column"
    else:
        positions = list(range(len(schema.UCI_COLUMNS)))
        width = len(schema.UCI_COLUMNS)
        min_width = width
        data = records
        layout = "UCI"
        width_hint = _layout_hint()

    ids, labels, features = [], [], []
    for row_number, (line, fields) in enumerate(data, start=1):
        where = f"{path}: row {row_number} (line {line})"
        if not min_width <= len(fields) <= width:
            expected = str(width) if min_width == width else f"{min_width} to {width}"
            raise DataError(
                f"{where}: expected {expected} columns, found {len(fields)}; "
                f"each row must have {width_hint}"
            )
        picked = [fields[i].strip() for i in positions]
        ids.append(picked[0])
        labels.append(_parse_label(where, picked[1]))
        features.append(
            [
                _parse_feature(where, name, value)
                for name, value in zip(schema.FEATURE_NAMES, picked[2:], strict=True)
            ]
        )

    if len(data) < min_rows:
        raise DataError(
            f"{path}: found {len(data)} data rows, but at least {min_rows} are "
            "needed to split into training and test rows; supply a larger file"
        )

    _warn_repeated_ids(path, ids)
    frame = pd.DataFrame(features, columns=list(schema.FEATURE_NAMES), dtype="float64")
    frame.insert(0, schema.LABEL_COLUMN, pd.Series(labels, dtype="object"))
    frame.insert(0, schema.ID_COLUMN, pd.Series(ids, dtype="object"))
    _LOGGER.info("Loaded %d labeled rows (%s layout) from %s", len(frame), layout, path)
    return frame


def _read_records(path: str) -> list[tuple[int, list[str]]]:
    """Return (1-based line number, fields) for every CSV record in the file."""
    try:
        with FileSystems.open(
            path, compression_type=CompressionTypes.UNCOMPRESSED
        ) as handle:
            raw = handle.read()
    except storage.READ_ERRORS as error:
        raise _read_error(
            path,
            error,
            "check that the path exists or pass --data with the location of the "
            "labeled CSV",
        ) from error
    raw = _decompress(path, raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: the file is not UTF-8 text ({error}); expected a CSV file"
        ) from error

    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
    try:
        for fields in reader:
            records.append((reader.line_num, fields))
    except csv.Error as error:
        raise DataError(
            f"{path}: line {reader.line_num}: invalid CSV ({error})"
        ) from error
    return records


def _decompress(path: str, raw: bytes) -> bytes:
    """Decompress ``raw`` by the file name's extension, as Beam detects it.

    Beam 2.77's compressed reader returns the part before a cut without an
    error, so the standard library decoders (and zstandard) are used here,
    because they raise when the end-of-stream marker is missing.
    """
    compression = CompressionTypes.detect_compression_type(path)
    decoders = {
        CompressionTypes.GZIP: gzip.decompress,
        CompressionTypes.BZIP2: bz2.decompress,
        CompressionTypes.LZMA: lzma.decompress,
        CompressionTypes.DEFLATE: zlib.decompress,
        CompressionTypes.ZSTD: _zstd_decompress,
    }
    decoder = decoders.get(compression)
    if decoder is None:
        return raw
    try:
        return decoder(raw)
    except (
        EOFError,
        OSError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
        zstandard.ZstdError,
    ) as error:
        raise DataError(
            f"{path}: truncated or corrupt {compression} data ({error}); "
            f"supply a complete {compression} file or the uncompressed CSV"
        ) from error


def _zstd_decompress(raw: bytes) -> bytes:
    """Decompress every zstd frame in ``raw``; raise EOFError on a cut frame."""
    chunks = []
    rest = raw
    while rest:
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        chunks.append(decompressor.decompress(rest))
        if not decompressor.eof:
            raise EOFError("compressed data ended inside a zstd frame")
        rest = decompressor.unused_data
    return b"".join(chunks)


def _trailing_unnamed_columns(header: list[str]) -> int:
    count = 0
    for field in reversed(header):
        if field.strip():
            break
        count += 1
    return count


def _warn_repeated_ids(path: str, ids: list[str]) -> None:
    seen = set()
    repeats = []
    for row_number, row_id in enumerate(ids, start=1):
        if row_id in seen:
            repeats.append(row_number)
        seen.add(row_id)
    if repeats:
        _LOGGER.warning(
            "%s: %d rows repeat the id of an earlier row, the first at row %d; "
            "all of them are used for training",
            path,
            len(repeats),
            repeats[0],
        )


def _has_content(fields: list[str]) -> bool:
    return any(field.strip() for field in fields)


def _looks_like_header(fields: list[str]) -> bool:
    known = set(_REQUIRED_HEADER_COLUMNS)
    return any(schema.normalize_column_name(field) in known for field in fields)


def _header_positions(path: str, line: int, fields: list[str]) -> list[int]:
    """Map each required column to its index in the header row."""
    positions: dict[str, int] = {}
    for index, field in enumerate(fields):
        name = schema.normalize_column_name(field)
        if name in positions and name in _REQUIRED_HEADER_COLUMNS:
            raise DataError(
                f"{path}: header (line {line}): column {name!r} appears more than "
                "once; keep one column of each name"
            )
        positions.setdefault(name, index)
    missing = [name for name in _REQUIRED_HEADER_COLUMNS if name not in positions]
    if missing:
        raise DataError(
            f"{path}: header (line {line}): missing columns {', '.join(missing)}; "
            f"the header must name {schema.ID_COLUMN}, {schema.LABEL_COLUMN} and "
            "all 30 features"
        )
    return [positions[name] for name in _REQUIRED_HEADER_COLUMNS]


def _parse_label(where: str, value: str) -> str:
    # Scoring matches labels the same way: stripped and case-insensitive.
    label = value.strip().upper()
    if label not in LABELS:
        raise DataError(
            f"{where}: invalid diagnosis {value!r}; expected "
            f"{schema.MALIGNANT} (malignant) or {schema.BENIGN} (benign), in "
            "either case"
        )
    return label


def _parse_feature(where: str, name: str, value: str) -> float:
    if not value:
        raise DataError(
            f"{where}: missing value for {name}; every feature needs a number"
        )
    try:
        number = float(value)
    except ValueError:
        raise DataError(
            f"{where}: non-numeric value {value!r} for {name}; expected a number"
        ) from None
    if not math.isfinite(number):
        raise DataError(
            f"{where}: non-finite value {value!r} for {name}; expected a finite number"
        )
    # The model computes in float32, where a larger magnitude becomes inf.
    with np.errstate(over="ignore"):
        in_float32_range = bool(np.isfinite(np.float32(number)))
    if not in_float32_range:
        raise DataError(
            f"{where}: value {value!r} for {name} is outside the float32 range; "
            f"expected a magnitude of at most {schema.FLOAT32_MAX:.6g}"
        )
    return number


def _layout_hint() -> str:
    return (
        f"{len(schema.UCI_COLUMNS)} columns (id, diagnosis, then the 30 features) "
        "or a header row naming them"
    )
