"""Tests for wdbc.dataset: both file layouts and every DataError case."""

import bz2
import csv
import gzip
import hashlib
import lzma
import random
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zstandard

from wdbc import dataset, schema

UCI_PATH = dataset.DEFAULT_DATA_PATH


def _uci_rows() -> list[list[str]]:
    with open(UCI_PATH, newline="") as handle:
        return [row for row in csv.reader(handle) if row]


def _write_rows(path: Path, rows: list[list[str]]) -> str:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def uci_frame() -> pd.DataFrame:
    return dataset.load_labeled(UCI_PATH)


def test_default_path_is_bundled_file():
    assert Path(UCI_PATH).is_file()
    assert Path(UCI_PATH).name == "wdbc.data"


def test_uci_layout_shape_and_columns(uci_frame):
    assert uci_frame.shape == (569, 32)
    assert list(uci_frame.columns) == list(schema.UCI_COLUMNS)


def test_uci_layout_dtypes(uci_frame):
    for name in schema.FEATURE_NAMES:
        assert uci_frame[name].dtype == np.float64, name
    assert set(uci_frame[schema.LABEL_COLUMN]) == {"M", "B"}


def test_uci_layout_class_counts(uci_frame):
    counts = uci_frame[schema.LABEL_COLUMN].value_counts()
    assert counts["B"] == 357
    assert counts["M"] == 212


def test_uci_layout_first_row_values(uci_frame):
    first = uci_frame.iloc[0]
    assert first[schema.ID_COLUMN] == "842302"
    assert first[schema.LABEL_COLUMN] == "M"
    assert first["radius_mean"] == 17.99
    assert first["fractal_dimension_worst"] == 0.1189


def test_header_layout_any_order_and_spelling(tmp_path, uci_frame):
    # Spaced, capitalized names as in other copies of the data set, columns
    # shuffled, and an extra column that must be ignored.
    display = {
        name: name.replace("_", " ", 1).title().replace(" ", "_")
        for name in schema.UCI_COLUMNS
    }
    display["concave_points_mean"] = "concave points_mean"
    order = list(schema.UCI_COLUMNS) + ["notes"]
    random.Random(3).shuffle(order)
    rows = [[display.get(name, name) for name in order]]
    for uci_row in _uci_rows():
        values = dict(zip(schema.UCI_COLUMNS, uci_row, strict=True))
        values["notes"] = "ignored"
        rows.append([values[name] for name in order])
    path = _write_rows(tmp_path / "header.csv", rows)

    loaded = dataset.load_labeled(path)

    pd.testing.assert_frame_equal(loaded, uci_frame)


def test_header_layout_trailing_empty_column(tmp_path, uci_frame):
    rows = [list(schema.UCI_COLUMNS) + [""]]
    rows += [row + [""] for row in _uci_rows()]
    path = _write_rows(tmp_path / "trailing.csv", rows)

    loaded = dataset.load_labeled(path)

    pd.testing.assert_frame_equal(loaded, uci_frame)


def test_header_trailing_empty_column_rows_without_it(tmp_path, uci_frame):
    # The header line ends with a comma, the data lines do not.
    rows = [list(schema.UCI_COLUMNS) + [""]] + _uci_rows()
    path = _write_rows(tmp_path / "trailing.csv", rows)

    loaded = dataset.load_labeled(path)

    pd.testing.assert_frame_equal(loaded, uci_frame)


def test_header_trailing_empty_column_short_row_raises(tmp_path):
    rows = [list(schema.UCI_COLUMNS) + [""]] + _uci_rows()
    rows[3] = rows[3][:-1]
    path = _write_rows(tmp_path / "trailing.csv", rows)

    with pytest.raises(dataset.DataError, match="expected 32 to 33 columns, found 31"):
        dataset.load_labeled(path)


def test_labels_any_case_and_whitespace(tmp_path):
    rows = _uci_rows()[:4]
    for row, label in zip(rows, ["m", " b ", "M", "b"], strict=True):
        row[1] = label
    path = _write_rows(tmp_path / "lower.data", rows)

    loaded = dataset.load_labeled(path)

    assert list(loaded[schema.LABEL_COLUMN]) == ["M", "B", "M", "B"]


def test_repeated_ids_logged_and_kept(tmp_path, caplog):
    rows = _uci_rows()[:6]
    rows[3][0] = rows[0][0]
    rows[5][0] = rows[0][0]
    path = _write_rows(tmp_path / "repeated.data", rows)

    with caplog.at_level("WARNING", logger="wdbc.dataset"):
        loaded = dataset.load_labeled(path)

    assert len(loaded) == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert path in warnings[0]
    assert "2 rows repeat the id of an earlier row, the first at row 4" in warnings[0]


def test_sha256_matches_hashlib():
    expected = hashlib.sha256(Path(UCI_PATH).read_bytes()).hexdigest()
    assert dataset.file_sha256(UCI_PATH) == expected


def test_sha256_missing_file_raises(tmp_path):
    missing = str(tmp_path / "absent.csv")
    with pytest.raises(dataset.DataError, match="absent.csv"):
        dataset.file_sha256(missing)


def test_missing_file_raises(tmp_path):
    missing = str(tmp_path / "absent.csv")
    with pytest.raises(dataset.DataError) as caught:
        dataset.load_labeled(missing)
    message = str(caught.value)
    assert missing in message
    assert "--data" in message


def _corrupt(tmp_path, row_index: int, column: int | None, value) -> str:
    """Write the UCI rows with one cell (or a whole row) replaced."""
    rows = _uci_rows()
    if column is None:
        rows[row_index] = value
    else:
        rows[row_index][column] = value
    return _write_rows(tmp_path / "bad.data", rows)


@pytest.mark.parametrize(
    ("row_index", "column", "value", "problem"),
    [
        (4, None, ["1", "M", "2.0"], "expected 32 columns, found 3"),
        (9, 1, "X", "invalid diagnosis 'X'"),
        (9, 1, "malignant", "invalid diagnosis 'malignant'"),
        (19, 5, "abc", "non-numeric value 'abc' for area_mean"),
        (29, 2, "", "missing value for radius_mean"),
        (39, 31, "nan", "non-finite value 'nan' for fractal_dimension_worst"),
        (5, 2, "1e39", "value '1e39' for radius_mean is outside the float32 range"),
        (7, 17, "-3.5e38", "value '-3.5e38' for compactness_se is outside the float32"),
    ],
)
def test_invalid_cell_names_file_row_problem(
    tmp_path, row_index, column, value, problem
):
    path = _corrupt(tmp_path, row_index, column, value)
    with pytest.raises(dataset.DataError) as caught:
        dataset.load_labeled(path)
    message = str(caught.value)
    assert path in message
    assert f"row {row_index + 1} " in message
    assert problem in message


def test_header_row_numbers_exclude_header(tmp_path):
    rows = [list(schema.UCI_COLUMNS)] + _uci_rows()
    rows[3][1] = "?"
    path = _write_rows(tmp_path / "header.csv", rows)
    with pytest.raises(dataset.DataError, match=r"row 3 \(line 4\)"):
        dataset.load_labeled(path)


def test_header_missing_feature_raises(tmp_path):
    columns = [name for name in schema.UCI_COLUMNS if name != "texture_se"]
    path = _write_rows(tmp_path / "short.csv", [columns, ["1", "M"] + ["1"] * 29])
    with pytest.raises(dataset.DataError, match="missing columns texture_se"):
        dataset.load_labeled(path)


def test_fewer_rows_than_needed_raises(tmp_path):
    path = _write_rows(tmp_path / "few.data", _uci_rows()[:5])
    with pytest.raises(dataset.DataError) as caught:
        dataset.load_labeled(path, min_rows=16)
    message = str(caught.value)
    assert path in message
    assert "found 5 data rows" in message
    assert "at least 16" in message


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\n\n")
    with pytest.raises(dataset.DataError, match="no rows"):
        dataset.load_labeled(str(path))


def test_data_error_is_value_error():
    assert issubclass(dataset.DataError, ValueError)


def test_largest_float32_value_accepted(tmp_path):
    path = _corrupt(tmp_path, 5, 2, "3.4e38")

    loaded = dataset.load_labeled(path)

    assert loaded["radius_mean"].iloc[5] == 3.4e38


_COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "deflate": zlib.compress,
    "zst": lambda raw: zstandard.ZstdCompressor().compress(raw),
}


@pytest.mark.parametrize("extension", sorted(_COMPRESSORS))
def test_compressed_file_loads(tmp_path, uci_frame, extension):
    path = tmp_path / f"wdbc.data.{extension}"
    path.write_bytes(_COMPRESSORS[extension](Path(UCI_PATH).read_bytes()))

    loaded = dataset.load_labeled(str(path))

    pd.testing.assert_frame_equal(loaded, uci_frame)


@pytest.mark.parametrize("extension", sorted(_COMPRESSORS))
def test_truncated_compressed_file_raises(tmp_path, extension):
    compressed = _COMPRESSORS[extension](Path(UCI_PATH).read_bytes())
    path = tmp_path / f"cut.data.{extension}"
    path.write_bytes(compressed[: len(compressed) // 2])

    with pytest.raises(dataset.DataError) as caught:
        dataset.load_labeled(str(path))

    message = str(caught.value)
    assert str(path) in message
    assert "truncated or corrupt" in message


def test_truncated_gzip_at_line_break_raises(tmp_path):
    # The decompressed prefix ends on a line break, so every row parses.
    raw = Path(UCI_PATH).read_bytes()
    compressor = zlib.compressobj(wbits=31)
    compressed = compressor.compress(raw[: raw.index(b"\n", 50_000) + 1])
    compressed += compressor.flush(zlib.Z_SYNC_FLUSH)
    path = tmp_path / "cut.data.gz"
    path.write_bytes(compressed)

    with pytest.raises(dataset.DataError, match="truncated or corrupt gzip data"):
        dataset.load_labeled(str(path))


def test_plain_text_named_gz_raises(tmp_path):
    path = tmp_path / "plain.data.gz"
    path.write_bytes(Path(UCI_PATH).read_bytes())

    with pytest.raises(dataset.DataError) as caught:
        dataset.load_labeled(str(path))

    message = str(caught.value)
    assert str(path) in message
    assert "truncated or corrupt gzip data" in message
