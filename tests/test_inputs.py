"""Each corpus file scores or rejects exactly the rows it should."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests import corpus
from tests.conftest import score_with_signature

CASE_KEYS = [(fmt, name) for fmt, cases in corpus.CASES.items() for name in cases]
CASE_IDS = [f"{fmt}-{name}" for fmt, name in CASE_KEYS]


@pytest.mark.parametrize(("input_format", "name"), CASE_KEYS, ids=CASE_IDS)
def test_file_counts(corpus_run, input_format, name):
    run = corpus_run(input_format)
    case = run.cases[name]
    counts = run.summary["files"][run.source(name)]
    assert counts["rows_read"] == case.rows_read
    assert counts["rows_scored"] == len(case.scored)
    assert counts["rows_rejected"] == len(case.rejected)


@pytest.mark.parametrize(("input_format", "name"), CASE_KEYS, ids=CASE_IDS)
def test_file_rejections(corpus_run, input_format, name):
    run = corpus_run(input_format)
    case = run.cases[name]
    records = [r for r in run.rejected if r["source"] == run.source(name)]
    rows = [r["row"] for r in records]
    assert len(rows) == len(set(rows)), "a row was rejected twice"
    assert {r["row"]: r["reason"] for r in records} == case.rejected


@pytest.mark.parametrize(("input_format", "name"), CASE_KEYS, ids=CASE_IDS)
def test_file_probabilities(
    corpus_run, serving_signature, export_metadata, input_format, name
):
    run = corpus_run(input_format)
    case = run.cases[name]
    if not case.scored:
        pytest.skip(f"{name} has no row to score")
    ids = [row.id for row in case.scored]
    features = np.stack([row.features for row in case.scored])
    probability, predicted = score_with_signature(serving_signature, features)
    expected_probability = dict(zip(ids, probability.tolist()))
    expected_class = dict(zip(ids, predicted.tolist()))

    scored = run.scored[run.scored["id"].isin(set(ids))]
    assert sorted(scored["id"]) == sorted(ids)
    wanted = scored["id"].map(expected_probability).to_numpy()
    difference = np.abs(scored["probability"].to_numpy() - wanted)
    assert difference.max() <= 1e-6
    classes = scored["predicted_class"].to_numpy()
    assert (classes == scored["id"].map(expected_class).to_numpy()).all()
    versions = set(scored["model_version"].astype(str))
    assert versions == {str(export_metadata["model_version"])}


def test_csv_rejected_values_keep_raw_text(corpus_run):
    run = corpus_run("csv")
    source = run.source("bad_rows.csv")
    by_row = {r["row"]: r for r in run.rejected if r["source"] == source}
    assert by_row[2]["values"]["perimeter_se"] == "abc"
    assert by_row[5]["values"]["extra_fields"] == ["1.0"]
    assert by_row[8]["values"]["radius_worst"] == ""
    assert by_row[9]["values"]["concavity_mean"] == "NaN"


def test_parquet_rejected_values_keep_nulls(corpus_run):
    run = corpus_run("parquet")
    source = run.source("missing_values.parquet")
    by_row = {r["row"]: r for r in run.rejected if r["source"] == source}
    assert by_row[2]["values"]["radius_mean"] is None
    assert by_row[4]["values"]["area_se"] == "nan"
    assert by_row[6]["values"]["symmetry_worst"] == "inf"


def test_rejected_rows_never_scored(corpus_run):
    # The missing-value rows keep their ids, so none of them may be scored.
    for input_format in ("csv", "parquet"):
        run = corpus_run(input_format)
        name = f"missing_values.{'csv' if input_format == 'csv' else 'parquet'}"
        source = run.source(name)
        rejected_ids = {
            str(r["values"]["id"]) for r in run.rejected if r["source"] == source
        }
        assert len(rejected_ids) == len(run.cases[name].rejected)
        assert not rejected_ids & set(run.scored["id"])


def test_zero_row_group_is_written(corpus_run):
    run = corpus_run("parquet")
    metadata = pq.ParquetFile(run.input_dir / "zero_row_group.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert 0 in sizes
    assert sum(sizes) == len(run.cases["zero_row_group.parquet"].scored)
