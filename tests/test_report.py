"""Tests of the report page and the rejected-reason counts, without a model."""

import subprocess
import sys

import numpy as np
import pytest

from pipeline import drift, report
from wdbc import schema, statistics


def _training() -> dict:
    rng = np.random.default_rng(0)
    features = rng.normal(10.0, 2.0, size=(300, schema.NUM_FEATURES))
    return statistics.training_statistics(features, rng.uniform(size=300))


def _profile(training: dict, rows: int, seed: int) -> drift.ScoreProfile:
    """Profile ``rows`` random rows drawn like the training features."""
    rng = np.random.default_rng(seed)
    features = rng.normal(10.0, 2.0, size=(rows, schema.NUM_FEATURES))
    probabilities = rng.uniform(size=rows)
    combine = drift.ProfileScoresFn(training)
    return combine.add_input(
        combine.create_accumulator(),
        drift.ScoredBatch(features, probabilities, (probabilities >= 0.5) * 1),
    )


def _empty_summary(training: dict) -> dict:
    profile = drift.ProfileScoresFn(training).create_accumulator()
    return {"drift": drift.drift_summary(profile, training), "threshold": 0.5}


def test_report_without_rows_or_labels():
    training = _training()
    summary = _empty_summary(training)

    figures = report.render_figures(summary, training)
    page = report.render_html(summary, training, figures)

    # Without rows there is no PSI, so no chart that would show 0.000 bars.
    assert sorted(figures) == ["probability.png"]
    assert "No rows were scored" in page
    assert "there is no PSI chart" in page
    assert "PSI per feature" not in page
    assert "Labeled rows" not in page
    assert "nothing was predicted" in page
    assert "of scored rows predicted malignant" not in page


def test_report_with_rows_has_psi_chart():
    training = _training()
    profile = _profile(training, rows=50, seed=2)
    summary = {"drift": drift.drift_summary(profile, training), "threshold": 0.5}

    figures = report.render_figures(summary, training)
    page = report.render_html(summary, training, figures)

    assert sorted(figures) == ["probability.png", "psi.png"]
    assert 'alt="PSI per feature"' in page
    assert "of scored rows predicted malignant" in page


def test_report_lists_rejected_reasons():
    training = _training()
    summary = _empty_summary(training)
    summary["rows_rejected"] = 3
    summary["rejected_by_reason"] = {"NaN in area_se": 2, "missing value in id": 1}

    page = report.render_html(
        summary, training, report.render_figures(summary, training)
    )

    assert "<td>NaN in area_se</td><td>2</td>" in page
    assert "<td>missing value in id</td><td>1</td>" in page


def test_count_reasons_merges_partials():
    combine = report.CountRejectedByReasonFn()
    first = combine.create_accumulator()
    for reason in ["a", "b", "a"]:
        first = combine.add_input(first, reason)
    second = combine.add_input(combine.create_accumulator(), "b")

    merged = combine.extract_output(combine.merge_accumulators([first, second]))

    assert merged == {"a": 2, "b": 2}
    assert list(merged) == ["a", "b"]


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("missing value in radius_mean", "missing value"),
        ("NaN in area_se", "NaN value"),
        ("infinite value in symmetry_worst", "infinite value"),
        ("non-numeric value 'abc' in perimeter_se", "non-numeric value"),
        ("non-numeric value in perimeter_mean", "non-numeric value"),
        ("expected 32 fields, found 31", "wrong number of fields"),
        (
            "value 1e+39 of compactness_se is outside the float32 range",
            "outside float32 range",
        ),
        (
            "missing value in radius_mean; non-numeric value 'x' in area_se; "
            "missing value in texture_se",
            "missing value; non-numeric value",
        ),
        ("missing feature columns: texture_se, area_se", "missing feature columns"),
        ("duplicated columns: radius_mean", "duplicated columns"),
        (
            "column radius_mean has type list<element: double>, not a number",
            "feature column not numeric",
        ),
        ("normalized value is not finite in a, b", "normalized value not finite"),
        ("the model returned a NaN probability", "NaN probability"),
        (
            "file cannot be read after row 4, it may be truncated or corrupt: "
            "Compressed file ended; really",
            "file truncated or corrupt",
        ),
        ("something new", "other"),
    ],
)
def test_reason_category(reason, category):
    assert report.reason_category(reason) == category


def test_report_small_sample_has_no_alarm():
    training = _training()
    profile = _profile(training, rows=7, seed=1)
    record = drift.drift_summary(profile, training, max_psi=0.25, min_rows=1000)
    summary = {"drift": record, "threshold": 0.5}

    page = report.render_html(
        summary, training, report.render_figures(summary, training)
    )

    assert "Too few rows to judge drift" in page
    assert "--min_drift_rows 1,000" in page
    assert "Major drift" not in page
    assert "Drift gate failed" not in page
    assert "alert major" not in page
    assert "No feature shows major drift" not in page


def test_pipeline_import_skips_matplotlib():
    # Every worker process imports the pipeline's modules, and only the step
    # that writes the report needs Matplotlib.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipeline.graph; print('matplotlib' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert completed.stdout.strip() == "False"
