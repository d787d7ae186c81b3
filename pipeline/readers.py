"""Read CSV and Parquet shards into feature batches and rejected-row records.

Each shard is read as a stream, so a file is never held in memory whole.
A row ends in exactly one place: in a ``FeatureBatch`` that will be scored, or
in a rejected-row record that says why it was not.

Row numbers are 1-based positions among the data records of a file: the
header row is not counted, blank lines are skipped, and a quoted field that
spans lines still counts as one record.

CSV files go through ``pyarrow.csv`` with the feature columns parsed straight
to float64. When a file holds a row with the wrong number of fields or a value
that is not a number, that parser cannot continue past it, so the rest of the
file, from the first record not yet emitted, is read with Python's ``csv``
module, which checks each record on its own.
"""

import codecs
import csv
import dataclasses
import gzip
import io
import logging
import math
import zlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from wdbc import schema

_LOGGER = logging.getLogger(__name__)

_FEATURES = schema.FEATURE_NAMES
_FEATURE_SET = frozenset(_FEATURES)
_HEADER_WORDS = _FEATURE_SET | {schema.ID_COLUMN, schema.LABEL_COLUMN}
_LABEL_CODES = {schema.MALIGNANT: 1, schema.BENIGN: 0}
NO_LABEL = -1

# Bytes that pyarrow parses per block; blocks are then cut into batches.
_CSV_BLOCK_BYTES = 8 << 20
# Bytes read to find the first record when sniffing for a header.
_SNIFF_BYTES = 1 << 20

CSV_SUFFIXES = (".csv", ".csv.gz", ".data", ".data.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

# Errors of a file that opened at launch but fails partway through, such as
# a truncated gzip stream (EOFError from Python's gzip, OSError from pyarrow).
# NOTE: a transient storage error is an OSError too, so it also ends the
# shard with a rejected record instead of failing the bundle for a retry.
_MID_FILE_ERRORS = (OSError, EOFError, zlib.error, pa.ArrowException)


@dataclasses.dataclass
class FeatureBatch:
    """Rows of one file that passed validation, ready to score."""

    source: str
    rows: np.ndarray  # int64, 1-based record numbers in ``source``
    ids: pa.Array  # string, no nulls
    features: np.ndarray  # float64, shape [n, 30], in schema order
    labels: np.ndarray  # int8: 1 malignant, 0 benign, NO_LABEL otherwise

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, mask: np.ndarray) -> "FeatureBatch":
        """Return the rows where the boolean ``mask`` is true."""
        return FeatureBatch(
            self.source,
            self.rows[mask],
            self.ids.filter(pa.array(mask)),
            self.features[mask],
            self.labels[mask],
        )


@dataclasses.dataclass
class RejectedRow:
    """A row that will not be scored, with the reason."""

    source: str
    row: int
    reason: str
    values: dict

    def to_record(self) -> dict:
        return {
            "source": self.source,
            "row": self.row,
            "reason": self.reason,
            "values": self.values,
        }


def file_format(path: str) -> str:
    """Return "csv" or "parquet" for a shard path, chosen by its extension.

    Raises:
      ValueError: the extension is neither.
    """
    lower = path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    raise ValueError(
        f"Cannot tell the format of {path} from its extension: use one of "
        f"{', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)}."
    )


def _json_value(value):
    """Convert a parsed value to something ``json.dumps`` writes as valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _named_values(names: list[str], values: list) -> dict:
    """Map names to values; a repeated name gets " (duplicate)" appended."""
    named = {}
    for name, value in zip(names, values):
        while name in named:
            name = f"{name} (duplicate)"
        named[name] = value
    return named


def _label_codes(labels: list | pa.Array | None, n: int) -> np.ndarray:
    if labels is None:
        return np.full(n, NO_LABEL, dtype=np.int8)
    if isinstance(labels, pa.Array):
        try:
            return _arrow_label_codes(labels)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            labels = [None if v is None else str(v) for v in labels.to_pylist()]
    return np.array(
        [_LABEL_CODES.get((v or "").strip().upper(), NO_LABEL) for v in labels],
        dtype=np.int8,
    )


# Label texts in the order of their codes, so a text's index is its code.
_LABELS_BY_CODE = pa.array(sorted(_LABEL_CODES, key=_LABEL_CODES.get))


def _arrow_label_codes(labels: pa.Array) -> np.ndarray:
    """Compute ``_label_codes`` in Arrow, with no Python call per row."""
    text = pc.utf8_upper(pc.utf8_trim_whitespace(pc.cast(labels, pa.string())))
    codes = pc.fill_null(pc.index_in(text, value_set=_LABELS_BY_CODE), NO_LABEL)
    return codes.to_numpy(zero_copy_only=False).astype(np.int8)


def _value_problem(name: str, value: float, is_null: bool) -> str | None:
    if is_null:
        return f"missing value in {name}"
    if math.isnan(value):
        return f"NaN in {name}"
    if math.isinf(value):
        return f"infinite value in {name}"
    if abs(value) > schema.FLOAT32_MAX:
        return f"value {value!r} of {name} is outside the float32 range"
    return None


def _feature_matrix(columns: list[pa.Array]) -> np.ndarray:
    """Return float64 columns as one [n, 30] array, with NaN for nulls.

    The array is column-major (Fortran order): Arrow writes it in one call,
    and the drift profile takes its transpose as columns without a copy.
    """
    names = [str(j) for j in range(len(columns))]
    batch = pa.RecordBatch.from_arrays(columns, names=names)
    return np.asarray(batch.to_tensor(null_to_nan=True, row_major=False))


def _null_mask(columns: list[pa.Array]) -> np.ndarray | None:
    """Return an [n, 30] mask of the null values, or None if there are none."""
    if not any(column.null_count for column in columns):
        return None
    return np.column_stack(
        [column.is_null().to_numpy(zero_copy_only=False) for column in columns]
    )


def _split_valid_rows(
    source: str,
    rows: np.ndarray,
    ids: pa.Array,
    features: np.ndarray,
    null_mask: np.ndarray | None,
    labels: np.ndarray,
    raw_values,
    text_mask: np.ndarray | None = None,
) -> Iterator[FeatureBatch | RejectedRow]:
    """Yield the rows with present features in the float32 range; reject others.

    ``null_mask`` is None when no value is null. ``raw_values(i)`` returns the
    file's values of row ``i`` for the record. ``text_mask`` marks the values
    that were text but not a number.
    """
    # NaN fails every comparison, and min and max return NaN when a value is
    # NaN, so this clears a batch without NaN, infinities or float32 overflows.
    if null_mask is None and (
        features.size == 0
        or (
            features.min() >= -schema.FLOAT32_MAX
            and features.max() <= schema.FLOAT32_MAX
        )
    ):
        yield FeatureBatch(source, rows, ids, features, labels)
        return
    bad = ~(np.abs(features) <= schema.FLOAT32_MAX).all(axis=1)
    if null_mask is not None:
        bad |= null_mask.any(axis=1)
    if not bad.any():
        yield FeatureBatch(source, rows, ids, features, labels)
        return
    if null_mask is None:
        null_mask = np.zeros(features.shape, dtype=bool)
    for i in np.flatnonzero(bad):
        problems = [
            f"non-numeric value in {_FEATURES[j]}"
            if text_mask is not None and text_mask[i, j]
            else _value_problem(
                _FEATURES[j], float(features[i, j]), bool(null_mask[i, j])
            )
            for j in range(len(_FEATURES))
        ]
        reason = "; ".join(p for p in problems if p)
        yield RejectedRow(source, int(rows[i]), reason, raw_values(int(i)))
    good = ~bad
    if good.any():
        yield FeatureBatch(source, rows, ids, features, labels).select(good)


def _row_keys(source: str, rows: np.ndarray) -> pa.Array:
    """Build stable ids for files without an id column: path and row number."""
    numbers = pc.cast(pa.array(rows), pa.string())
    return pc.binary_join_element_wise(f"{source}:", numbers, "")


# --------------------------------------------------------------------------
# CSV


@dataclasses.dataclass
class _CsvLayout:
    has_header: bool
    columns: list[str]  # names of the fields of each record, in file order
    feature_columns: list[str | None]  # file column for each feature, or None
    id_column: str | None
    label_column: str | None

    duplicated: list[str] = dataclasses.field(default_factory=list)

    @property
    def missing_features(self) -> list[str]:
        return [f for f, c in zip(_FEATURES, self.feature_columns) if c is None]

    @property
    def file_problem(self) -> str | None:
        """Return why no record of the file can be scored, or None."""
        if self.duplicated:
            return f"duplicated columns: {', '.join(self.duplicated)}"
        if self.missing_features:
            return missing_columns_reason(self.missing_features, self.columns)
        return None


def missing_columns_reason(missing: list[str], columns: list[str]) -> str:
    """Name the missing feature columns and the file's columns that match none.

    An unmatched column next to a missing one is often a misspelled header.
    """
    reason = f"missing feature columns: {', '.join(missing)}"
    unmatched = [
        column
        for column in columns
        if schema.normalize_column_name(column) not in _HEADER_WORDS
    ]
    if unmatched:
        reason += f" (header columns that match no feature: {', '.join(unmatched)})"
    return reason


def _open_arrow_stream(path: str) -> pa.NativeFile:
    """Open ``path`` as a pyarrow stream, decompressing ``.gz`` files.

    Beam's ``CompressedFile`` (2.77) defines ``closed`` as a method, which
    pyarrow reads as a closed file, so gzip is decoded by pyarrow instead.
    """
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    stream = pa.PythonFile(raw, mode="r")
    if path.lower().endswith(".gz"):
        return pa.CompressedInputStream(stream, "gzip")
    return stream


def _open_text(path: str) -> io.TextIOWrapper:
    """Open ``path`` as text, decompressing ``.gz`` files.

    Beam's ``CompressedFile`` (2.77) lacks ``writable``, which
    ``io.TextIOWrapper`` calls, so gzip is decoded by Python's ``gzip``.
    """
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    if path.lower().endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="replace")


def _is_blank(record: list[str]) -> bool:
    """Tell whether a CSV record is an empty or whitespace-only line."""
    return not record or (len(record) == 1 and not record[0].strip())


def _first_record(path: str) -> list[str] | None:
    """Return the first non-blank CSV record of ``path``, or None if none."""
    with FileSystems.open(path) as f:
        head = f.read(_SNIFF_BYTES)
    text = codecs.decode(head, "utf-8-sig", errors="replace")
    for record in csv.reader(io.StringIO(text, newline="")):
        if not _is_blank(record):
            return record
    return None


def _csv_layout(path: str, first: list[str]) -> _CsvLayout:
    names = [schema.normalize_column_name(field) for field in first]
    if not _HEADER_WORDS.intersection(names):
        return _CsvLayout(
            has_header=False,
            columns=list(schema.UCI_COLUMNS),
            feature_columns=list(_FEATURES),
            id_column=schema.ID_COLUMN,
            label_column=schema.LABEL_COLUMN,
        )
    by_name: dict[str, str] = {}
    for raw, name in zip(first, names):
        by_name.setdefault(name, raw)
    return _CsvLayout(
        has_header=True,
        columns=list(first),
        feature_columns=[by_name.get(f) for f in _FEATURES],
        id_column=by_name.get(schema.ID_COLUMN),
        label_column=by_name.get(schema.LABEL_COLUMN),
        duplicated=_duplicated_columns(first),
    )


class _CsvFallback(Exception):
    """The fast parser met a record it cannot handle."""


def _read_csv_fast(
    path: str, layout: _CsvLayout, batch_rows: int, emitted: list[int]
) -> Iterator[FeatureBatch | RejectedRow]:
    """Parse with pyarrow; ``emitted[0]`` counts the records yielded so far."""

    def on_invalid_row(row):
        return "error"

    wanted = [c for c in layout.feature_columns]
    types = {c: pa.float64() for c in wanted}
    if layout.id_column:
        wanted.append(layout.id_column)
        types[layout.id_column] = pa.string()
    if layout.label_column:
        wanted.append(layout.label_column)
        types[layout.label_column] = pa.string()
    read_options = pa_csv.ReadOptions(
        block_size=_CSV_BLOCK_BYTES,
        column_names=None if layout.has_header else layout.columns,
    )
    parse_options = pa_csv.ParseOptions(
        newlines_in_values=True, invalid_row_handler=on_invalid_row
    )
    convert_options = pa_csv.ConvertOptions(
        include_columns=wanted,
        column_types=types,
        null_values=[""],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    with _open_arrow_stream(path) as f:
        try:
            reader = pa_csv.open_csv(
                f,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            for block in reader:
                for start in range(0, block.num_rows, batch_rows):
                    batch = block.slice(start, batch_rows)
                    yield from _csv_batch(path, layout, batch, emitted[0])
                    emitted[0] += batch.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowKeyError, OSError) as e:
            # pyarrow decodes a gzip file in blocks, so on a truncated one it
            # fails before its first rows. The record reader, which reads the
            # stream line by line, then yields the rows before the cut. A
            # whitespace-only line before the header gives ArrowKeyError,
            # because pyarrow takes it as the header.
            raise _CsvFallback(str(e)) from e


def _csv_batch(
    path: str, layout: _CsvLayout, batch: pa.RecordBatch, offset: int
) -> Iterator[FeatureBatch | RejectedRow]:
    n = batch.num_rows
    rows = np.arange(offset + 1, offset + n + 1, dtype=np.int64)
    columns = [batch.column(c) for c in layout.feature_columns]
    features = _feature_matrix(columns)
    null_mask = _null_mask(columns)
    if layout.id_column:
        ids = batch.column(layout.id_column)
    else:
        ids = _row_keys(path, rows)
    labels = None
    if layout.label_column:
        labels = batch.column(layout.label_column)

    def raw_values(i: int) -> dict:
        values = {}
        if layout.id_column:
            values[layout.id_column] = ids[i].as_py()
        if labels is not None:
            values[layout.label_column] = labels[i].as_py()
        for name, column in zip(layout.feature_columns, columns):
            values[name] = _json_value(column[i].as_py())
        return values

    yield from _split_valid_rows(
        path, rows, ids, features, null_mask, _label_codes(labels, n), raw_values
    )


def _parse_record(
    layout: _CsvLayout, index: dict[str, int], record: list[str]
) -> tuple[list[float] | None, str | None]:
    """Return a record's feature values, or None and the reason it is rejected."""
    width = len(layout.columns)
    # A header with trailing empty names may come with data rows that lack the
    # trailing separators; both forms are accepted.
    named = width
    while named > 0 and not layout.columns[named - 1].strip():
        named -= 1
    if not (named <= len(record) <= width):
        return None, f"expected {width} fields, found {len(record)}"
    values: list[float] = []
    problems: list[str] = []
    for feature, column in zip(_FEATURES, layout.feature_columns):
        text = record[index[column]].strip()
        if not text:
            problems.append(f"missing value in {feature}")
            continue
        try:
            value = float(text)
        except ValueError:
            problems.append(f"non-numeric value {text!r} in {feature}")
            continue
        problem = _value_problem(feature, value, False)
        if problem:
            problems.append(problem)
        values.append(value)
    if problems:
        return None, "; ".join(problems)
    return values, None


def _read_csv_records(
    path: str, layout: _CsvLayout, batch_rows: int, skip: int
) -> Iterator[FeatureBatch | RejectedRow]:
    """Check each record with Python's csv module, after skipping ``skip``."""
    file_problem = layout.file_problem
    index = {name: i for i, name in enumerate(layout.columns)}
    pending_rows: list[int] = []
    pending_ids: list[str] = []
    pending_values: list[list[float]] = []
    pending_labels: list[str | None] = []

    def flush() -> FeatureBatch:
        rows = np.array(pending_rows, dtype=np.int64)
        batch = FeatureBatch(
            source=path,
            rows=rows,
            ids=pa.array(pending_ids, type=pa.string()),
            features=np.array(pending_values, dtype=np.float64).reshape(
                -1, len(_FEATURES)
            ),
            labels=_label_codes(pending_labels, len(pending_rows)),
        )
        pending_rows.clear()
        pending_ids.clear()
        pending_values.clear()
        pending_labels.clear()
        return batch

    failure: list[Exception] = []
    with _open_text(path) as text:
        records = _until_read_error(csv.reader(text), failure)
        row = 0
        header_pending = layout.has_header
        for record in records:
            if _is_blank(record):
                continue
            if header_pending:
                header_pending = False
                continue
            row += 1
            if row <= skip:
                continue
            raw = _named_values(layout.columns, record)
            if len(record) > len(layout.columns):
                raw["extra_fields"] = record[len(layout.columns) :]
            if file_problem:
                yield RejectedRow(path, row, file_problem, raw)
                continue
            values, reason = _parse_record(layout, index, record)
            if values is None:
                yield RejectedRow(path, row, reason, raw)
                continue
            pending_rows.append(row)
            if layout.id_column:
                pending_ids.append(record[index[layout.id_column]])
            else:
                pending_ids.append(f"{path}:{row}")
            label = None
            if layout.label_column:
                label = record[index[layout.label_column]]
            pending_labels.append(label)
            pending_values.append(values)
            if len(pending_rows) >= batch_rows:
                yield flush()
    if pending_rows:
        yield flush()
    if failure:
        raise failure[0]


def _until_read_error(records: Iterator, failure: list) -> Iterator:
    """Yield ``records`` until reading fails, and store the error in ``failure``.

    The caller then emits the rows it has parsed before it re-raises.
    """
    try:
        yield from records
    except _MID_FILE_ERRORS as e:
        failure.append(e)


def read_csv(path: str, batch_rows: int) -> Iterator[FeatureBatch | RejectedRow]:
    """Yield the scored-to-be batches and rejected rows of one CSV file."""
    first = _first_record(path)
    if first is None:
        return
    layout = _csv_layout(path, first)
    emitted = [0]
    if not layout.file_problem:
        try:
            yield from _read_csv_fast(path, layout, batch_rows, emitted)
            return
        except _CsvFallback:
            # NOTE: from the first bad record to the end of the file, every
            # record, clean or not, is parsed in Python, which is much slower
            # than the pyarrow path on large files.
            pass
    yield from _read_csv_records(path, layout, batch_rows, skip=emitted[0])


# --------------------------------------------------------------------------
# Parquet


def _to_float64(
    column: pa.ChunkedArray | pa.Array,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return the values as float64, a mask of nulls and one of non-numbers.

    The third mask is None when the column casts to float64 directly. A value
    that does not convert to a number (text in a string column, say) comes
    back as NaN with its non-number mask entry set, so its row is rejected.
    """
    null_mask = column.is_null().to_numpy(zero_copy_only=False)
    try:
        values = pc.cast(column, pa.float64(), safe=False)
        return values.to_numpy(zero_copy_only=False), null_mask, None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import pandas as pd

        numbers = pd.to_numeric(
            pd.Series(column.to_pylist(), dtype=object), errors="coerce"
        ).to_numpy(dtype=np.float64)
        # to_numeric also turns "nan" and "inf" text into floats, which the
        # finite check then rejects with their own reasons.
        return numbers, null_mask, ~null_mask & np.isnan(numbers) & ~_nan_text(column)


def _nan_text(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Mask the values whose text parses as NaN, such as "nan" or "NaN"."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
    return pc.fill_null(pc.equal(text, "nan"), False).to_numpy(zero_copy_only=False)


def _id_strings(column: pa.Array) -> pa.Array:
    """Return a string array of the text of each id, null for a null id.

    String and integer columns are cast in Arrow, which gives the same text
    as ``str`` without a Python call per row. An integral float below 2**53 is
    written as an integer (857438.0 as "857438"), so ids that pandas stored
    as floats keep their text. Binary ids are decoded as UTF-8, with U+FFFD
    for invalid bytes. Other types go through ``str``.
    """
    data_type = column.type
    if pa.types.is_string(data_type) or pa.types.is_integer(data_type):
        return pc.cast(column, pa.string())
    if pa.types.is_floating(data_type):
        values = pc.cast(column, pa.float64())
        integral = pc.and_(
            pc.equal(pc.floor(values), values), pc.less(pc.abs(values), 2.0**53)
        )
        whole = pc.cast(pc.if_else(integral, values, 0.0), pa.int64())
        return pc.if_else(
            integral, pc.cast(whole, pa.string()), pc.cast(values, pa.string())
        )
    if pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type):
        try:
            return pc.cast(column, pa.string())
        except pa.ArrowInvalid:
            texts = [
                None if v is None else v.decode("utf-8", errors="replace")
                for v in column.to_pylist()
            ]
            return pa.array(texts, type=pa.string())
    texts = [None if v is None else str(v) for v in column.to_pylist()]
    return pa.array(texts, type=pa.string())


def _parquet_features(
    columns: list[pa.Array],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Return the features, the null mask and the non-number mask of a batch.

    When Arrow casts every column to float64 (numeric columns, and text
    columns whose values all parse as numbers), the batch goes through
    ``_feature_matrix``. Otherwise each column is converted by
    ``_to_float64``. The masks are None when no value is null or non-numeric.
    """
    try:
        floats = [
            column
            if pa.types.is_float64(column.type)
            else pc.cast(column, pa.float64(), safe=False)
            for column in columns
        ]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    else:
        return _feature_matrix(floats), _null_mask(columns), None
    converted = [_to_float64(column) for column in columns]
    features = np.column_stack([v for v, _, _ in converted])
    null_mask = np.column_stack([m for _, m, _ in converted])
    text_mask = None
    if any(t is not None for _, _, t in converted):
        text_mask = np.column_stack(
            [np.zeros(len(v), bool) if t is None else t for v, _, t in converted]
        )
    return features, null_mask, text_mask


def _duplicated_columns(names: list[str]) -> list[str]:
    """Return the schema names that more than one column maps to, in order."""
    counts: dict[str, int] = {}
    for name in names:
        normalized = schema.normalize_column_name(name)
        if normalized in _HEADER_WORDS:
            counts[normalized] = counts.get(normalized, 0) + 1
    return [name for name, count in counts.items() if count > 1]


def _is_number_type(data_type: pa.DataType) -> bool:
    """Tell whether ``_parquet_features`` can turn a column of this type to float64."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_null(data_type)
    )


def _parquet_file_problem(
    arrow_schema: pa.Schema, feature_columns: list[str | None]
) -> str | None:
    """Return why no row of a Parquet file can be read, or None if rows can."""
    duplicated = _duplicated_columns(arrow_schema.names)
    if duplicated:
        return f"duplicated columns: {', '.join(duplicated)}"
    missing = [f for f, c in zip(_FEATURES, feature_columns) if c is None]
    if missing:
        return missing_columns_reason(missing, arrow_schema.names)
    for column in feature_columns:
        data_type = arrow_schema.field(column).type
        if not _is_number_type(data_type):
            return f"column {column} has type {data_type}, not a number"
    return None


def _reject_parquet_file(
    parquet: pq.ParquetFile, path: str, batch_rows: int, reason: str
) -> Iterator[RejectedRow]:
    """Reject every row of a Parquet file with the same reason."""
    offset = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        # A record batch with duplicated names cannot be turned into dicts,
        # so each row's values are read column by column.
        columns = [column.to_pylist() for column in batch.columns]
        for i in range(batch.num_rows):
            row = [_json_value(column[i]) for column in columns]
            values = _named_values(batch.schema.names, row)
            yield RejectedRow(path, offset + i + 1, reason, values)
        offset += batch.num_rows


def read_parquet(path: str, batch_rows: int) -> Iterator[FeatureBatch | RejectedRow]:
    """Yield the scored-to-be batches and rejected rows of one Parquet file."""
    with FileSystems.open(path) as f:
        parquet = pq.ParquetFile(f)
        by_name: dict[str, str] = {}
        for raw in parquet.schema_arrow.names:
            by_name.setdefault(schema.normalize_column_name(raw), raw)
        feature_columns = [by_name.get(name) for name in _FEATURES]
        id_column = by_name.get(schema.ID_COLUMN)
        label_column = by_name.get(schema.LABEL_COLUMN)
        problem = _parquet_file_problem(parquet.schema_arrow, feature_columns)
        if problem:
            yield from _reject_parquet_file(parquet, path, batch_rows, problem)
            return
        offset = 0
        wanted = list(feature_columns)
        for extra in (id_column, label_column):
            if extra:
                wanted.append(extra)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
            n = batch.num_rows
            if n == 0:
                continue
            rows = np.arange(offset + 1, offset + n + 1, dtype=np.int64)
            offset += n
            features, null_mask, text_mask = _parquet_features(
                [batch.column(c) for c in feature_columns]
            )
            if id_column:
                ids = _id_strings(batch.column(id_column))
                if ids.null_count:
                    ids = pc.coalesce(ids, _row_keys(path, rows))
            else:
                ids = _row_keys(path, rows)
            labels = None
            if label_column:
                labels = batch.column(label_column)

            def raw_values(i: int, batch=batch) -> dict:
                return {
                    name: _json_value(batch.column(name)[i].as_py())
                    for name in batch.schema.names
                }

            yield from _split_valid_rows(
                path,
                rows,
                ids,
                features,
                null_mask,
                _label_codes(labels, n),
                raw_values,
                text_mask,
            )


def _stop_at_read_error(
    path: str, items: Iterator[FeatureBatch | RejectedRow]
) -> Iterator[FeatureBatch | RejectedRow]:
    """Pass ``items`` on; if reading fails, end with one record for the rest.

    The rows yielded before the failure stay as they are. The unread rest of
    the file cannot be counted, so one rejected record, numbered after the
    last row read, stands for it.
    """
    last_row = 0
    try:
        for item in items:
            if isinstance(item, RejectedRow):
                last_row = max(last_row, item.row)
            elif len(item):
                last_row = max(last_row, int(item.rows[-1]))
            yield item
    except _MID_FILE_ERRORS as e:
        reason = (
            f"file cannot be read after row {last_row}, it may be truncated "
            f"or corrupt: {e}"
        )
        # The run may still pass its gates, so the log names the file too.
        _LOGGER.warning("%s: %s; its unread rest is one rejected record", path, reason)
        yield RejectedRow(path, last_row + 1, reason, {})


def read_shard(path: str, batch_rows: int) -> Iterator[FeatureBatch | RejectedRow]:
    """Yield the batches and rejected rows of a CSV or Parquet shard."""
    if file_format(path) == "parquet":
        return _stop_at_read_error(path, read_parquet(path, batch_rows))
    return _stop_at_read_error(path, read_csv(path, batch_rows))
