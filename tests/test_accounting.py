"""A corpus run accounts for every row in summary.json, metrics and files."""

import collections
import datetime
import json
import re

import numpy as np
import pytest

from pipeline import report
from tests.conftest import STALE_OUTPUTS, UNRELATED_FILE, score_with_signature
from wdbc import schema

FORMATS = ["csv", "parquet"]


def _expected_totals(cases: dict) -> dict:
    return {
        "rows_read": sum(c.rows_read for c in cases.values()),
        "rows_scored": sum(len(c.scored) for c in cases.values()),
        "rows_rejected": sum(len(c.rejected) for c in cases.values()),
        "files_read": len(cases),
    }


@pytest.mark.parametrize("input_format", FORMATS)
def test_summary_totals(corpus_run, input_format):
    run = corpus_run(input_format)
    expected = _expected_totals(run.cases)
    for key, value in expected.items():
        assert run.summary[key] == value, key
    assert (
        run.summary["rows_read"]
        == run.summary["rows_scored"] + run.summary["rows_rejected"]
    )


@pytest.mark.parametrize("input_format", FORMATS)
def test_summary_lists_every_file(corpus_run, input_format):
    run = corpus_run(input_format)
    expected = {run.source(name) for name in run.cases}
    assert set(run.summary["files"]) == expected


@pytest.mark.parametrize("input_format", FORMATS)
def test_metrics_match_summary(corpus_run, input_format):
    run = corpus_run(input_format)
    for key in ("files_read", "rows_read", "rows_scored", "rows_rejected"):
        assert run.metrics[key] == run.summary[key], key


@pytest.mark.parametrize("input_format", FORMATS)
def test_output_rows_match_summary(corpus_run, input_format):
    run = corpus_run(input_format)
    assert len(run.scored) == run.summary["rows_scored"]
    assert len(run.rejected) == run.summary["rows_rejected"]


@pytest.mark.parametrize("input_format", FORMATS)
def test_summary_evaluation(corpus_run, serving_signature, input_format):
    run = corpus_run(input_format)
    rows = [r for c in run.cases.values() for r in c.scored if r.label != -1]
    features = np.stack([r.features for r in rows])
    _, predicted = score_with_signature(serving_signature, features)
    actual = np.array([r.label for r in rows]) == 1
    guessed = predicted == 1
    expected = {
        "true_positive": int(np.sum(actual & guessed)),
        "false_positive": int(np.sum(~actual & guessed)),
        "true_negative": int(np.sum(~actual & ~guessed)),
        "false_negative": int(np.sum(actual & ~guessed)),
    }
    evaluation = run.summary["evaluation"]
    assert evaluation["labelled_rows"] == len(rows)
    assert evaluation["confusion_matrix"] == expected
    correct = expected["true_positive"] + expected["true_negative"]
    assert evaluation["accuracy"] == pytest.approx(correct / len(rows))


@pytest.mark.parametrize("input_format", FORMATS)
def test_summary_model_and_times(corpus_run, export_metadata, input_format):
    run = corpus_run(input_format)
    assert run.summary["model_version"] == str(export_metadata["model_version"])
    assert run.summary["threshold"] == pytest.approx(export_metadata["threshold"])
    started = datetime.datetime.fromisoformat(run.summary["started_at"])
    finished = datetime.datetime.fromisoformat(run.summary["finished_at"])
    assert started <= finished


@pytest.mark.parametrize("input_format", FORMATS)
def test_output_file_names(corpus_run, input_format):
    run = corpus_run(input_format)
    scored = sorted(p.name for p in run.output_dir.glob("scored-*"))
    rejected = sorted(p.name for p in run.output_dir.glob("rejected-*"))
    assert scored == run.summary["scored_files"]
    assert rejected == run.summary["rejected_files"]
    shard = re.compile(r"^(scored|rejected)-\d{5}-of-\d{5}\.(csv|parquet|jsonl)$")
    for name in scored + rejected:
        assert shard.match(name), name
    assert all(name.endswith(f".{run.output_format}") for name in scored)
    assert all(name.endswith(".jsonl") for name in rejected)


@pytest.mark.parametrize("input_format", FORMATS)
def test_success_written_last(corpus_run, input_format):
    run = corpus_run(input_format)
    success = run.output_dir / "_SUCCESS"
    assert success.exists()
    outputs = [
        p
        for p in run.output_dir.iterdir()
        if p.name not in ("_SUCCESS", UNRELATED_FILE)
    ]
    assert outputs
    newest = max(p.stat().st_mtime_ns for p in outputs)
    assert success.stat().st_mtime_ns >= newest


@pytest.mark.parametrize("input_format", FORMATS)
def test_earlier_outputs_replaced(corpus_run, input_format):
    run = corpus_run(input_format)
    names = {p.name for p in run.output_dir.iterdir()}
    expected = set(run.summary["scored_files"]) | set(run.summary["rejected_files"])
    expected |= {"summary.json", "_SUCCESS", "report.html", "report", UNRELATED_FILE}
    assert names == expected
    for stale in STALE_OUTPUTS:
        top = stale.split("/", 1)[0]
        if top in ("summary.json", "_SUCCESS"):
            text = (run.output_dir / top).read_text()
            assert "earlier run" not in text
        else:
            assert top not in names, top


def _reject_constant(name):
    raise ValueError(f"summary.json contains {name}, which is not JSON")


@pytest.mark.parametrize("input_format", FORMATS)
def test_summary_is_strict_json(corpus_run, input_format):
    run = corpus_run(input_format)
    text = (run.output_dir / "summary.json").read_text()
    assert json.loads(text, parse_constant=_reject_constant) == run.summary


@pytest.mark.parametrize("input_format", FORMATS)
def test_reasons_counted_by_category(corpus_run, input_format):
    run = corpus_run(input_format)
    by_reason = run.summary["rejected_by_reason"]
    expected = collections.Counter(
        report.reason_category(r["reason"]) for r in run.rejected
    )
    assert by_reason == dict(expected)
    assert sum(by_reason.values()) == run.summary["rows_rejected"]
    assert "other" not in by_reason
    for category in by_reason:
        assert "'" not in category, category
        assert not any(name in category for name in schema.FEATURE_NAMES), category
