"""The README states the scoring facts that the code defines."""

import pathlib

import pytest

from pipeline import readers, run
from pipeline.options import DEFAULT_BATCH_SIZE, DEFAULT_MIN_DRIFT_ROWS

README = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("suffix", readers.CSV_SUFFIXES + readers.PARQUET_SUFFIXES)
def test_readme_lists_input_suffix(suffix):
    # ".csv.gz" is covered by ".csv" and "their `.gz` forms".
    base = suffix.removesuffix(".gz")

    assert f"`{base}`" in README


@pytest.mark.parametrize("pattern", run.OUTPUT_PATTERNS)
def test_readme_lists_replaced_output(pattern):
    assert f"`{pattern}`" in README


def test_readme_gives_defaults():
    assert f"default {DEFAULT_BATCH_SIZE}" in README
    assert f"default {DEFAULT_MIN_DRIFT_ROWS}" in README
