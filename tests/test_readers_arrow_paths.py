"""The Arrow conversions in the readers match their per-row Python forms."""

import numpy as np
import pyarrow as pa
import pytest

from pipeline import readers

LABEL_TEXTS = ["M", "B", " m", "b ", "x", "", None, "MB"]


def test_label_codes_arrow_matches_list():
    from_list = readers._label_codes(LABEL_TEXTS, len(LABEL_TEXTS))
    from_arrow = readers._label_codes(pa.array(LABEL_TEXTS), len(LABEL_TEXTS))

    np.testing.assert_array_equal(from_arrow, from_list)
    np.testing.assert_array_equal(from_list, [1, 0, 1, 0, -1, -1, -1, -1])
    assert from_arrow.dtype == np.int8


def test_label_codes_of_integer_column():
    codes = readers._label_codes(pa.array([1, 0, None]), 3)

    np.testing.assert_array_equal(codes, [-1, -1, -1])


@pytest.mark.parametrize(
    "column",
    [
        pa.array(["842302", None, "x-1"]),
        pa.array([842302, None, -5], type=pa.int64()),
    ],
    ids=["string", "int64"],
)
def test_id_strings_match_str(column):
    expected = [None if v is None else str(v) for v in column.to_pylist()]

    ids = readers._id_strings(column)

    assert ids.type == pa.string()
    assert ids.to_pylist() == expected


def test_id_strings_of_float_column():
    # Integral floats are written as integers, so an id that pandas stored as
    # a float keeps the text of the source id.
    column = pa.array([1.5, None, 2.0, 857438.0, 410000906539.0, 1e300])

    ids = readers._id_strings(column)

    assert ids.type == pa.string()
    assert ids.to_pylist() == ["1.5", None, "2", "857438", "410000906539", "1e+300"]


def test_id_strings_of_binary_column():
    column = pa.array([b"857373", None, b"\xff1"], type=pa.binary())

    ids = readers._id_strings(column)

    assert ids.to_pylist() == ["857373", None, "\ufffd1"]
