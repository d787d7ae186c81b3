"""Build folders of CSV and Parquet shards from the bundled WDBC rows.

Each builder writes one file that exercises one input case and returns a
``Case`` with the rows the pipeline must score and the rows it must reject.
Every file takes its own slice of the bundled data and its own id range, so a
scored id identifies the file and the feature values it came from.
"""

import dataclasses
import gzip
import json
import pathlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wdbc import schema

FEATURES = list(schema.FEATURE_NAMES)
HEADER = list(schema.UCI_COLUMNS)
LABEL_CODES = {schema.MALIGNANT: 1, schema.BENIGN: 0}
FLOAT64 = pa.float64()
INT64 = pa.int64()


@dataclasses.dataclass
class ScoredRow:
    """A row the pipeline must score, with the values the file holds."""

    id: str
    features: np.ndarray  # float64, shape [30], in schema order
    label: int  # 1 malignant, 0 benign, -1 when the file has no diagnosis


@dataclasses.dataclass
class Case:
    """One corpus file and the outcome expected for each of its rows."""

    name: str
    scored: list[ScoredRow]
    rejected: dict[int, str]  # 1-based row number -> exact rejection reason

    @property
    def rows_read(self) -> int:
        return len(self.scored) + len(self.rejected)


@dataclasses.dataclass
class _Slice:
    """Rows of the bundled frame with ids unique to one corpus file."""

    ids: list[str]
    diagnosis: list[str]
    features: np.ndarray  # float64, shape [n, 30]

    def scored(self, labelled: bool = True) -> list[ScoredRow]:
        return [
            ScoredRow(i, f.copy(), LABEL_CODES[d] if labelled else -1)
            for i, d, f in zip(self.ids, self.diagnosis, self.features)
        ]


def _slice(frame: pd.DataFrame, start: int, stop: int, id_block: int) -> _Slice:
    part = frame.iloc[start:stop]
    ids = [str(id_block * 10**10 + int(v)) for v in part[schema.ID_COLUMN]]
    return _Slice(
        ids=ids,
        diagnosis=list(part[schema.LABEL_COLUMN]),
        features=part[FEATURES].to_numpy(dtype=np.float64),
    )


def _number(value: float) -> str:
    # repr gives the shortest text that parses back to the same float64.
    return repr(float(value))


def _csv_line(fields: list[str], quote: bool = False) -> str:
    if quote:
        fields = ['"' + f.replace('"', '""') + '"' for f in fields]
    return ",".join(fields)


def _uci_fields(data: _Slice, i: int) -> list[str]:
    values = [_number(v) for v in data.features[i]]
    return [data.ids[i], data.diagnosis[i], *values]


def _write_lines(path: pathlib.Path, lines: list[str], end: str = "\n") -> None:
    path.write_bytes((end.join(lines) + end).encode("utf-8"))


# --------------------------------------------------------------------------
# CSV cases. Each takes the frame and the corpus folder and returns its Case.


def _csv_plain(frame, folder):
    data = _slice(frame, 0, 20, 1)
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(len(data.ids))]
    _write_lines(folder / "plain.csv", lines)
    return Case("plain.csv", data.scored(), {})


def _csv_quoted(frame, folder):
    data = _slice(frame, 20, 35, 2)
    lines = [_csv_line(HEADER, quote=True)]
    lines += [_csv_line(_uci_fields(data, i), quote=True) for i in range(15)]
    _write_lines(folder / "quoted.csv", lines)
    return Case("quoted.csv", data.scored(), {})


def _csv_trailing_column(frame, folder):
    data = _slice(frame, 35, 45, 3)
    lines = [",".join(HEADER) + ","]
    lines += [_csv_line(_uci_fields(data, i)) + "," for i in range(10)]
    _write_lines(folder / "trailing_column.csv", lines)
    return Case("trailing_column.csv", data.scored(), {})


def _csv_trailing_header_only(frame, folder):
    # The header ends with an empty name, the data rows lack that field.
    data = _slice(frame, 45, 55, 4)
    lines = [",".join(HEADER) + ","]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(10)]
    _write_lines(folder / "trailing_header_only.csv", lines)
    return Case("trailing_header_only.csv", data.scored(), {})


def _uci_style_name(feature: str) -> str:
    """Spell a feature as the UCI description does: "concave points_mean"."""
    return feature.replace("concave_points", "concave points").replace(
        "fractal_dimension", "fractal dimension"
    )


def _csv_spaced_names(frame, folder):
    # UCI spellings, capitals and the features in reverse order.
    data = _slice(frame, 55, 65, 5)
    order = FEATURES[::-1]
    header = ["ID", "Diagnosis"] + [_uci_style_name(f).title() for f in order]
    lines = [_csv_line(header, quote=True)]
    for i in range(10):
        values = [_number(data.features[i][FEATURES.index(f)]) for f in order]
        lines.append(_csv_line([data.ids[i], data.diagnosis[i], *values]))
    _write_lines(folder / "spaced_names.csv", lines)
    return Case("spaced_names.csv", data.scored(), {})


def _csv_crlf(frame, folder):
    data = _slice(frame, 65, 75, 6)
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(10)]
    _write_lines(folder / "crlf.csv", lines, end="\r\n")
    return Case("crlf.csv", data.scored(), {})


def _csv_bom(frame, folder):
    data = _slice(frame, 75, 85, 7)
    lines = ["\ufeff" + _csv_line(HEADER, quote=True)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(10)]
    _write_lines(folder / "bom.csv", lines)
    return Case("bom.csv", data.scored(), {})


def _csv_no_final_newline(frame, folder):
    data = _slice(frame, 85, 95, 8)
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(10)]
    (folder / "no_final_newline.csv").write_text("\n".join(lines))
    return Case("no_final_newline.csv", data.scored(), {})


def _csv_gzipped(frame, folder):
    data = _slice(frame, 95, 115, 9)
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(20)]
    text = "\n".join(lines) + "\n"
    (folder / "gzipped.csv.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    return Case("gzipped.csv.gz", data.scored(), {})


def _csv_gzipped_bad_row(frame, folder):
    # The non-numeric value sends the rest of the file to the record reader,
    # which must decompress the file too.
    data = _slice(frame, 400, 410, 19)
    lines = [",".join(HEADER)]
    scored = []
    for i, row in enumerate(data.scored()):
        fields = _uci_fields(data, i)
        if i == 2:
            fields[HEADER.index("area_mean")] = "n/a"
        else:
            scored.append(row)
        lines.append(_csv_line(fields))
    text = "\n".join(lines) + "\n"
    name = "gzipped_bad_row.csv.gz"
    (folder / name).write_bytes(gzip.compress(text.encode("utf-8")))
    return Case(name, scored, {3: "non-numeric value 'n/a' in area_mean"})


def _csv_whitespace_lines(frame, folder):
    # Lines of spaces and tabs are blank lines: skipped, not counted as rows.
    data = _slice(frame, 425, 431, 42)
    lines = ["  ", ",".join(HEADER)]
    for i in range(6):
        lines.append(_csv_line(_uci_fields(data, i)))
        if i in (1, 4):
            lines.append(" \t ")
    _write_lines(folder / "whitespace_lines.csv", lines)
    return Case("whitespace_lines.csv", data.scored(), {})


def _csv_quoted_ids(frame, folder):
    data = _slice(frame, 115, 121, 10)
    data.ids = [
        f"{v[:5]},{v[5:]}" if i % 2 else f"{v[:5]}\n{v[5:]}"
        for i, v in enumerate(data.ids)
    ]
    lines = [",".join(HEADER)]
    for i in range(6):
        fields = _uci_fields(data, i)
        lines.append(_csv_line(fields[:1], quote=True) + "," + _csv_line(fields[1:]))
    _write_lines(folder / "quoted_ids.csv", lines)
    return Case("quoted_ids.csv", data.scored(), {})


def _csv_string_ids(frame, folder):
    data = _slice(frame, 121, 131, 11)
    data.ids = [f"patient-{v}" for v in data.ids]
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(10)]
    _write_lines(folder / "string_ids.csv", lines)
    return Case("string_ids.csv", data.scored(), {})


def _csv_duplicate_ids(frame, folder):
    data = _slice(frame, 131, 136, 12)
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(5)] * 2
    _write_lines(folder / "duplicate_ids.csv", lines)
    return Case("duplicate_ids.csv", data.scored() * 2, {})


def _csv_empty(frame, folder):
    (folder / "empty.csv").write_bytes(b"")
    return Case("empty.csv", [], {})


def _csv_header_only(frame, folder):
    _write_lines(folder / "header_only.csv", [",".join(HEADER)])
    return Case("header_only.csv", [], {})


def _csv_uci(frame, folder):
    data = _slice(frame, 136, 186, 13)
    lines = [_csv_line(_uci_fields(data, i)) for i in range(50)]
    _write_lines(folder / "uci.data", lines)
    return Case("uci.data", data.scored(), {})


def _csv_no_diagnosis(frame, folder):
    data = _slice(frame, 186, 196, 14)
    header = [schema.ID_COLUMN, *FEATURES]
    lines = [",".join(header)]
    for i in range(10):
        fields = _uci_fields(data, i)
        lines.append(_csv_line([fields[0], *fields[2:]]))
    _write_lines(folder / "no_diagnosis.csv", lines)
    return Case("no_diagnosis.csv", data.scored(labelled=False), {})


def _csv_missing_values(frame, folder):
    # Every row has the full field count, so the pyarrow parser reads it all.
    data = _slice(frame, 196, 206, 15)
    bad = {
        2: ("radius_mean", "", "missing value in radius_mean"),
        4: ("area_se", "nan", "NaN in area_se"),
        6: ("symmetry_worst", "inf", "infinite value in symmetry_worst"),
        7: ("texture_mean", "-inf", "infinite value in texture_mean"),
    }
    lines = [",".join(HEADER)]
    scored = []
    rejected = {}
    for i, row in enumerate(data.scored()):
        fields = _uci_fields(data, i)
        number = i + 1
        if number in bad:
            column, text, reason = bad[number]
            fields[HEADER.index(column)] = text
            rejected[number] = reason
        else:
            scored.append(row)
        lines.append(_csv_line(fields))
    _write_lines(folder / "missing_values.csv", lines)
    return Case("missing_values.csv", scored, rejected)


def _csv_bad_rows(frame, folder):
    # Rows the pyarrow parser cannot take, mixed with rows it can.
    data = _slice(frame, 206, 220, 16)
    lines = [",".join(HEADER)]
    scored = []
    rejected = {}
    for i, row in enumerate(data.scored()):
        fields = _uci_fields(data, i)
        number = i + 1
        if number == 2:
            fields[HEADER.index("perimeter_se")] = "abc"
            rejected[number] = "non-numeric value 'abc' in perimeter_se"
        elif number == 4:
            fields = fields[:-1]
            rejected[number] = f"expected {len(HEADER)} fields, found {len(fields)}"
        elif number == 5:
            fields = fields + ["1.0"]
            rejected[number] = f"expected {len(HEADER)} fields, found {len(fields)}"
        elif number == 8:
            fields[HEADER.index("radius_worst")] = ""
            rejected[number] = "missing value in radius_worst"
        elif number == 9:
            fields[HEADER.index("concavity_mean")] = "NaN"
            rejected[number] = "NaN in concavity_mean"
        elif number == 11:
            fields[HEADER.index("area_worst")] = "Infinity"
            rejected[number] = "infinite value in area_worst"
        elif number == 12:
            fields[HEADER.index("smoothness_mean")] = "1.2.3"
            rejected[number] = "non-numeric value '1.2.3' in smoothness_mean"
        elif number == 13:
            fields[HEADER.index("texture_worst")] = "-1e39"
            rejected[number] = (
                "value -1e+39 of texture_worst is outside the float32 range"
            )
        else:
            scored.append(row)
        lines.append(_csv_line(fields))
    _write_lines(folder / "bad_rows.csv", lines)
    return Case("bad_rows.csv", scored, rejected)


def _csv_missing_column(frame, folder):
    data = _slice(frame, 220, 225, 17)
    drop = HEADER.index("texture_se")
    lines = [",".join(h for j, h in enumerate(HEADER) if j != drop)]
    for i in range(5):
        fields = _uci_fields(data, i)
        lines.append(_csv_line([f for j, f in enumerate(fields) if j != drop]))
    _write_lines(folder / "missing_column.csv", lines)
    reason = "missing feature columns: texture_se"
    return Case("missing_column.csv", [], {n: reason for n in range(1, 6)})


# Values that are finite in float64 but not usable by the float32 model:
# 1-based row -> (feature values to set, exact rejection reason). The
# normalized compactness_se of 3e38 overflows because its training std is
# far below 1.
_FLOAT32_PROBLEMS = {
    2: (
        {"compactness_se": 1e39},
        "value 1e+39 of compactness_se is outside the float32 range",
    ),
    3: (
        {"radius_mean": -1e308},
        "value -1e+308 of radius_mean is outside the float32 range",
    ),
    4: (
        {"radius_mean": 1e39, "compactness_se": 1e39},
        "value 1e+39 of radius_mean is outside the float32 range; "
        "value 1e+39 of compactness_se is outside the float32 range",
    ),
    6: (
        {"compactness_se": 3e38},
        "normalized value is not finite in compactness_se",
    ),
    7: (
        {"compactness_se": 3e38, "smoothness_se": -3e38},
        "normalized value is not finite in smoothness_se, compactness_se",
    ),
}


def _float32_slice(frame, start, stop, id_block) -> tuple[_Slice, Case]:
    data = _slice(frame, start, stop, id_block)
    rows = data.scored()
    rejected = {}
    for number, (values, reason) in _FLOAT32_PROBLEMS.items():
        for name, value in values.items():
            data.features[number - 1, FEATURES.index(name)] = value
        rejected[number] = reason
    scored = [r for n, r in enumerate(rows, start=1) if n not in rejected]
    return data, Case("", scored, rejected)


def _csv_float32_range(frame, folder):
    data, case = _float32_slice(frame, 225, 235, 18)
    lines = [",".join(HEADER)]
    lines += [_csv_line(_uci_fields(data, i)) for i in range(len(data.ids))]
    _write_lines(folder / "float32_range.csv", lines)
    case.name = "float32_range.csv"
    return case


def _csv_duplicate_column(frame, folder, name, duplicate, bad_row):
    """Build a case whose header names ``duplicate`` twice.

    With ``bad_row`` one value is not a number, which sends the file to the
    record reader, so both CSV readers are checked.
    """
    data = _slice(frame, 410, 415, 38 if bad_row else 39)
    lines = [",".join([*HEADER, duplicate])]
    for i in range(5):
        fields = _uci_fields(data, i)
        if bad_row and i == 1:
            fields[HEADER.index("area_mean")] = "n/a"
        lines.append(_csv_line([*fields, "999"]))
    _write_lines(folder / name, lines)
    reason = f"duplicated columns: {schema.normalize_column_name(duplicate)}"
    return Case(name, [], {n: reason for n in range(1, 6)})


CSV_CASES: dict[str, Callable] = {
    "plain.csv": _csv_plain,
    "quoted.csv": _csv_quoted,
    "trailing_column.csv": _csv_trailing_column,
    "trailing_header_only.csv": _csv_trailing_header_only,
    "spaced_names.csv": _csv_spaced_names,
    "crlf.csv": _csv_crlf,
    "bom.csv": _csv_bom,
    "no_final_newline.csv": _csv_no_final_newline,
    "gzipped.csv.gz": _csv_gzipped,
    "gzipped_bad_row.csv.gz": _csv_gzipped_bad_row,
    "whitespace_lines.csv": _csv_whitespace_lines,
    "quoted_ids.csv": _csv_quoted_ids,
    "string_ids.csv": _csv_string_ids,
    "duplicate_ids.csv": _csv_duplicate_ids,
    "empty.csv": _csv_empty,
    "header_only.csv": _csv_header_only,
    "uci.data": _csv_uci,
    "no_diagnosis.csv": _csv_no_diagnosis,
    "missing_values.csv": _csv_missing_values,
    "bad_rows.csv": _csv_bad_rows,
    "missing_column.csv": _csv_missing_column,
    "float32_range.csv": _csv_float32_range,
    "duplicate_column.csv": lambda frame, folder: _csv_duplicate_column(
        frame, folder, "duplicate_column.csv", "radius_mean", False
    ),
    "duplicate_column_bad_row.csv": lambda frame, folder: _csv_duplicate_column(
        frame, folder, "duplicate_column_bad_row.csv", "Radius Mean", True
    ),
    "duplicate_id.csv": lambda frame, folder: _csv_duplicate_column(
        frame, folder, "duplicate_id.csv", "id", False
    ),
}


# --------------------------------------------------------------------------
# Parquet cases.


def _table(
    data: _Slice,
    feature_type: pa.DataType = FLOAT64,
    names: list[str] | None = None,
    id_type: pa.DataType = INT64,
    labelled: bool = True,
) -> pa.Table:
    names = names or FEATURES
    columns = {}
    if id_type == INT64:
        columns[schema.ID_COLUMN] = pa.array([int(v) for v in data.ids], pa.int64())
    else:
        columns[schema.ID_COLUMN] = pa.array(data.ids, id_type)
    if labelled:
        columns[schema.LABEL_COLUMN] = pa.array(data.diagnosis, pa.string())
    for j, name in enumerate(names):
        columns[name] = pa.array(data.features[:, j]).cast(feature_type)
    return pa.table(columns)


def _pq_plain(frame, folder):
    data = _slice(frame, 230, 250, 21)
    pq.write_table(_table(data), folder / "plain.parquet")
    return Case("plain.parquet", data.scored(), {})


def _pq_int64(frame, folder):
    data = _slice(frame, 250, 260, 22)
    data.features = np.round(data.features)
    pq.write_table(_table(data, pa.int64()), folder / "int64.parquet")
    return Case("int64.parquet", data.scored(), {})


def _pq_float32(frame, folder):
    data = _slice(frame, 260, 270, 23)
    data.features = data.features.astype(np.float32).astype(np.float64)
    pq.write_table(_table(data, pa.float32()), folder / "float32.parquet")
    return Case("float32.parquet", data.scored(), {})


def _pq_row_groups(frame, folder):
    data = _slice(frame, 270, 310, 24)
    pq.write_table(_table(data), folder / "row_groups.parquet", row_group_size=7)
    return Case("row_groups.parquet", data.scored(), {})


def _pq_zero_row_group(frame, folder):
    data = _slice(frame, 310, 320, 25)
    table = _table(data)
    with pq.ParquetWriter(folder / "zero_row_group.parquet", table.schema) as writer:
        writer.write_table(table.slice(0, 0))
        writer.write_table(table.slice(0, 4))
        writer.write_table(table.slice(4, 0))
        writer.write_table(table.slice(4))
    return Case("zero_row_group.parquet", data.scored(), {})


def _pq_empty(frame, folder):
    data = _slice(frame, 0, 0, 26)
    pq.write_table(_table(data), folder / "empty.parquet")
    return Case("empty.parquet", [], {})


def _pq_missing_values(frame, folder):
    data = _slice(frame, 320, 332, 27)
    table = _table(data)
    problems = {
        2: ("radius_mean", None, "missing value in radius_mean"),
        4: ("area_se", float("nan"), "NaN in area_se"),
        6: ("symmetry_worst", float("inf"), "infinite value in symmetry_worst"),
        7: ("texture_mean", float("-inf"), "infinite value in texture_mean"),
        9: ("compactness_se", None, "missing value in compactness_se"),
    }
    for number, (name, value, _) in problems.items():
        values = table.column(name).to_pylist()
        values[number - 1] = value
        position = table.schema.get_field_index(name)
        table = table.set_column(position, name, pa.array(values, pa.float64()))
    pq.write_table(table, folder / "missing_values.parquet")
    rows = data.scored()
    scored = [r for n, r in enumerate(rows, start=1) if n not in problems]
    rejected = {n: reason for n, (_, _, reason) in problems.items()}
    return Case("missing_values.parquet", scored, rejected)


def _pq_missing_column(frame, folder):
    data = _slice(frame, 332, 337, 28)
    table = _table(data).drop_columns(["texture_se"])
    pq.write_table(table, folder / "missing_column.parquet")
    reason = "missing feature columns: texture_se"
    return Case("missing_column.parquet", [], {n: reason for n in range(1, 6)})


def _pq_spaced_names(frame, folder):
    data = _slice(frame, 337, 347, 29)
    data.ids = [f"patient-{v}" for v in data.ids]
    names = [_uci_style_name(f) for f in FEATURES]
    table = _table(data, names=names, id_type=pa.string())
    pq.write_table(table, folder / "spaced_names.parquet")
    return Case("spaced_names.parquet", data.scored(), {})


def _pq_duplicate_ids(frame, folder):
    data = _slice(frame, 347, 352, 30)
    table = _table(data)
    pq.write_table(pa.concat_tables([table, table]), folder / "duplicate_ids.parquet")
    return Case("duplicate_ids.parquet", data.scored() * 2, {})


def _pq_no_diagnosis(frame, folder):
    data = _slice(frame, 352, 362, 31)
    pq.write_table(_table(data, labelled=False), folder / "no_diagnosis.parquet")
    return Case("no_diagnosis.parquet", data.scored(labelled=False), {})


def _pq_text_features(frame, folder):
    # Feature columns stored as strings, as a CSV-to-Parquet export may write.
    data = _slice(frame, 362, 370, 32)
    table = _table(data)
    for name in FEATURES:
        position = table.schema.get_field_index(name)
        text = [_number(v) for v in table.column(name).to_pylist()]
        table = table.set_column(position, name, pa.array(text, pa.string()))
    problems = {
        3: ("perimeter_mean", "abc", "non-numeric value in perimeter_mean"),
        5: ("area_worst", "nan", "NaN in area_worst"),
    }
    for number, (name, text, _) in problems.items():
        values = table.column(name).to_pylist()
        values[number - 1] = text
        position = table.schema.get_field_index(name)
        table = table.set_column(position, name, pa.array(values, pa.string()))
    pq.write_table(table, folder / "text_features.parquet")
    rows = data.scored()
    scored = [r for n, r in enumerate(rows, start=1) if n not in problems]
    rejected = {n: reason for n, (_, _, reason) in problems.items()}
    return Case("text_features.parquet", scored, rejected)


def _pq_float32_range(frame, folder):
    data, case = _float32_slice(frame, 370, 380, 33)
    pq.write_table(_table(data), folder / "float32_range.parquet")
    case.name = "float32_range.parquet"
    return case


def _pq_duplicate_column(frame, folder):
    data = _slice(frame, 380, 385, 34)
    table = _table(data)
    second = pa.array(np.full(5, 999.0))
    table = pa.Table.from_arrays(
        [*table.columns, second], names=[*table.column_names, "radius_mean"]
    )
    pq.write_table(table, folder / "duplicate_column.parquet")
    reason = "duplicated columns: radius_mean"
    return Case("duplicate_column.parquet", [], {n: reason for n in range(1, 6)})


def _pq_feature_type(name, start, id_block, make_column, reason):
    """Build a case whose radius_mean column has a type that is not a number."""

    def build(frame, folder):
        data = _slice(frame, start, start + 5, id_block)
        table = _table(data)
        position = table.schema.get_field_index("radius_mean")
        column = make_column(data.features[:, 0])
        table = table.set_column(position, "radius_mean", column)
        pq.write_table(table, folder / name)
        return Case(name, [], {n: reason for n in range(1, 6)})

    return build


def _list_column(values):
    return pa.array([[v] for v in values], pa.list_(pa.float64()))


def _struct_column(values):
    return pa.array([{"value": v} for v in values])


def _bool_column(values):
    return pa.array(values > 15.0)


def _pq_id_type(name, start, id_block, id_type):
    """Build a case whose id column has ``id_type`` instead of int64."""

    def build(frame, folder):
        data = _slice(frame, start, start + 5, id_block)
        table = _table(data)
        position = table.schema.get_field_index(schema.ID_COLUMN)
        if id_type == pa.binary():
            ids = pa.array([v.encode("utf-8") for v in data.ids], id_type)
        else:
            ids = pa.array([float(v) for v in data.ids], id_type)
        table = table.set_column(position, schema.ID_COLUMN, ids)
        pq.write_table(table, folder / name)
        return Case(name, data.scored(), {})

    return build


PARQUET_CASES: dict[str, Callable] = {
    "plain.parquet": _pq_plain,
    "int64.parquet": _pq_int64,
    "float32.parquet": _pq_float32,
    "row_groups.parquet": _pq_row_groups,
    "zero_row_group.parquet": _pq_zero_row_group,
    "empty.parquet": _pq_empty,
    "missing_values.parquet": _pq_missing_values,
    "missing_column.parquet": _pq_missing_column,
    "spaced_names.parquet": _pq_spaced_names,
    "duplicate_ids.parquet": _pq_duplicate_ids,
    "no_diagnosis.parquet": _pq_no_diagnosis,
    "text_features.parquet": _pq_text_features,
    "float32_range.parquet": _pq_float32_range,
    "duplicate_column.parquet": _pq_duplicate_column,
    "list_feature.parquet": _pq_feature_type(
        "list_feature.parquet",
        385,
        35,
        _list_column,
        "column radius_mean has type list<element: double>, not a number",
    ),
    "struct_feature.parquet": _pq_feature_type(
        "struct_feature.parquet",
        390,
        36,
        _struct_column,
        "column radius_mean has type struct<value: double>, not a number",
    ),
    "binary_ids.parquet": _pq_id_type("binary_ids.parquet", 415, 40, pa.binary()),
    "float_ids.parquet": _pq_id_type("float_ids.parquet", 420, 41, pa.float64()),
    "bool_feature.parquet": _pq_feature_type(
        "bool_feature.parquet",
        395,
        37,
        _bool_column,
        "column radius_mean has type bool, not a number",
    ),
}

CASES = {"csv": CSV_CASES, "parquet": PARQUET_CASES}


def build_corpus(
    frame: pd.DataFrame, folder: pathlib.Path, input_format: str
) -> dict[str, Case]:
    """Write every case of ``input_format`` into ``folder``; return them by name."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: build(frame, folder) for name, build in CASES[input_format].items()}


def read_scored(output_dir: pathlib.Path, output_format: str) -> pd.DataFrame:
    """Read every scored shard in ``output_dir`` into one frame."""
    paths = sorted(output_dir.glob(f"scored-*.{output_format}"))
    if output_format == "parquet":
        frames = [pq.read_table(p).to_pandas() for p in paths]
    elif output_format == "csv":
        frames = [pd.read_csv(p, dtype={schema.ID_COLUMN: str}) for p in paths]
    else:
        frames = [
            pd.read_json(p, lines=True, dtype={schema.ID_COLUMN: str}) for p in paths
        ]
    return pd.concat(frames, ignore_index=True)


def read_rejected(output_dir: pathlib.Path) -> list[dict]:
    """Read every rejected-row record in ``output_dir``."""
    records = []
    for path in sorted(output_dir.glob("rejected-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            records.append(json.loads(line))
    return records
