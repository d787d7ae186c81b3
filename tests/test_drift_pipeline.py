"""End-to-end drift, gate and report tests on a real export and real runs."""

import base64
import glob
import json
import logging
import re

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline import run as score
from pipeline.options import parse_args
from train import data as train_data
from wdbc import dataset, schema, statistics

SCALED_FEATURE = "texture_mean"
SCALE = 1.3
# Copies of the bundled rows in the scaled input, so the run has more rows than
# --min_drift_rows (default 1000) and its drift is judged.
SCALED_COPIES = 2


def _score(input_path, model_dir, output_dir, *extra) -> int:
    return score.main(
        [
            "--input",
            str(input_path),
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(output_dir),
            *extra,
        ]
    )


def _summary(output_dir) -> dict:
    return json.loads((output_dir / "summary.json").read_text())


def _scored_rows(output_dir) -> int:
    paths = glob.glob(str(output_dir / "scored-*-of-*.parquet"))
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


@pytest.fixture(scope="module")
def scaled_csv(tmp_path_factory, wdbc_frame):
    """``SCALED_COPIES`` of the bundled data, one feature multiplied by ``SCALE``."""
    frame = pd.concat([wdbc_frame] * SCALED_COPIES, ignore_index=True)
    frame[SCALED_FEATURE] = frame[SCALED_FEATURE] * SCALE
    path = tmp_path_factory.mktemp("scaled") / "scaled.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory, scaled_csv, model_dir):
    """Score the scaled copy with ``--max_psi 0.25``; return (status, folder)."""
    output_dir = tmp_path_factory.mktemp("gated")
    status = _score(scaled_csv, model_dir, output_dir, "--max_psi", "0.25")
    return status, output_dir


def test_export_carries_training_statistics(export_metadata):
    training = export_metadata[statistics.METADATA_KEY]

    assert training["rows"] == 427
    assert list(training["features"]) == list(schema.FEATURE_NAMES)
    for name, record in training["features"].items():
        assert record["min"] <= record["decile_edges"][0], name
        assert record["decile_edges"][-1] <= record["max"], name
        assert sum(record["bin_shares"]) == pytest.approx(1.0), name
    assert len(training["probability"]["decile_edges"]) == 9


def test_training_rows_score_stable(tmp_path, model_dir):
    frame = dataset.load_labeled(dataset.DEFAULT_DATA_PATH)
    train_rows, _ = train_data.split_train_test(frame)
    input_path = tmp_path / "train.csv"
    # Three copies have the training shares and more rows than --min_drift_rows.
    pd.concat([train_rows] * 3).to_csv(input_path, index=False)
    output_dir = tmp_path / "scored"

    status = _score(input_path, model_dir, output_dir, "--max_psi", "0.05")

    assert status == 0
    drift = _summary(output_dir)["drift"]
    assert drift["rows"] == 3 * len(train_rows) == 1281
    assert drift["enough_rows"] is True
    for name, record in drift["features"].items():
        assert record["psi"] < 0.05, name
        assert record["level"] == "stable", name
        assert record["out_of_range"] == 0, name
    assert drift["probability"]["psi"] < 0.05
    assert drift["gate"]["passed"] is True
    assert (output_dir / "_SUCCESS").is_file()


def test_scaled_feature_is_major(gated_run):
    _, output_dir = gated_run

    drift = _summary(output_dir)["drift"]

    assert drift["features"][SCALED_FEATURE]["level"] == "major"
    assert drift["features"][SCALED_FEATURE]["mean_shift_std"] > 1.0
    assert drift["features"][SCALED_FEATURE]["out_of_range"] > 0
    assert drift["major_features"] == [SCALED_FEATURE]
    for name, record in drift["features"].items():
        if name != SCALED_FEATURE:
            assert record["level"] == "stable", name


def test_gate_fails_run_but_keeps_outputs(gated_run, wdbc_frame):
    status, output_dir = gated_run

    assert status == 3
    assert not (output_dir / "_SUCCESS").exists()
    assert _scored_rows(output_dir) == SCALED_COPIES * len(wdbc_frame)
    assert _summary(output_dir)["rows_scored"] == SCALED_COPIES * len(wdbc_frame)
    assert (output_dir / "report.html").is_file()
    assert glob.glob(str(output_dir / "rejected-*.jsonl"))
    gate = _summary(output_dir)["drift"]["gate"]
    assert gate["max_psi"] == 0.25
    assert gate["passed"] is False
    assert gate["failed_features"] == [SCALED_FEATURE]


def test_drift_without_gate_only_reports(tmp_path, scaled_csv, model_dir, caplog):
    output_dir = tmp_path / "scored"

    with caplog.at_level(logging.WARNING, logger="pipeline.drift"):
        status = _score(scaled_csv, model_dir, output_dir)

    assert status == 0
    assert (output_dir / "_SUCCESS").is_file()
    drift = _summary(output_dir)["drift"]
    assert drift["gate"] == {"max_psi": None, "passed": True, "failed_features": []}
    assert drift["major_features"] == [SCALED_FEATURE]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Major drift in {SCALED_FEATURE}" in m for m in warnings)


def test_report_names_drifting_feature(gated_run):
    _, output_dir = gated_run

    page = (output_dir / "report.html").read_text()

    assert f"Major drift in <b>{SCALED_FEATURE}</b>" in page
    assert "Drift gate failed" in page
    assert "Rows read" in page
    assert "confusion matrix" in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 2
    for encoded in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")
    assert (output_dir / "report" / "psi.png").is_file()
    assert (output_dir / "report" / "probability.png").is_file()
    assert 'src="http' not in page


def test_small_batch_passes_gate(tmp_path, wdbc_frame, model_dir, caplog):
    input_path = tmp_path / "seven.csv"
    wdbc_frame.head(7).to_csv(input_path, index=False)
    output_dir = tmp_path / "scored"

    with caplog.at_level(logging.WARNING, logger="pipeline.drift"):
        status = _score(input_path, model_dir, output_dir, "--max_psi", "0.25")

    assert status == 0
    assert (output_dir / "_SUCCESS").is_file()
    drift = _summary(output_dir)["drift"]
    assert drift["rows"] == 7
    assert drift["enough_rows"] is False
    assert drift["major_features"] == []
    assert drift["gate"]["passed"] is True
    for name, record in drift["features"].items():
        assert record["psi"] is not None, name
        assert record["level"] == "insufficient_rows", name
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert not any("Major drift" in m for m in warnings)
    assert sum("Drift not judged" in m for m in warnings) == 1
    page = (output_dir / "report.html").read_text()
    assert "Too few rows to judge drift" in page
    assert "alert major" not in page


def test_min_drift_rows_zero_judges_small_batch(tmp_path, wdbc_frame, model_dir):
    input_path = tmp_path / "seven.csv"
    wdbc_frame.head(7).to_csv(input_path, index=False)
    output_dir = tmp_path / "scored"

    status = _score(
        input_path, model_dir, output_dir, "--max_psi", "0.25", "--min_drift_rows", "0"
    )

    assert status == 3
    assert not (output_dir / "_SUCCESS").exists()
    assert _summary(output_dir)["drift"]["enough_rows"] is True


@pytest.mark.parametrize("value", ["-0.1", "nan"])
def test_max_psi_rejects_invalid(value, capsys):
    with pytest.raises(SystemExit):
        parse_args(
            ["--input", "x.csv", "--model_dir", "m", "--output_dir", "o"]
            + ["--max_psi", value]
        )

    assert "--max_psi" in capsys.readouterr().err


def test_max_psi_defaults_to_none():
    config, _ = parse_args(
        ["--input", "x.csv", "--model_dir", "m", "--output_dir", "o"]
    )

    assert config.max_psi is None


def test_gate_fails_without_scored_rows(tmp_path, wdbc_frame, model_dir, capsys):
    input_path = tmp_path / "all_rejected.csv"
    frame = wdbc_frame.head(5).copy()
    frame["radius_mean"] = "n/a"
    frame.to_csv(input_path, index=False)
    output_dir = tmp_path / "scored"

    status = _score(input_path, model_dir, output_dir, "--max_psi", "1")

    # Both gates fail. The exit status and message are the rejection gate's,
    # because only its reasons explain why no row was scored.
    assert status == 4
    assert "No row was scored" in capsys.readouterr().err
    summary = _summary(output_dir)
    assert summary["rows_rejected"] == 5
    assert summary["rows_scored"] == 0
    assert summary["drift"]["gate"]["passed"] is False
    assert not (output_dir / "_SUCCESS").exists()
    assert "no row was scored" in (output_dir / "report.html").read_text()


def test_min_drift_rows_rejects_negative(capsys):
    with pytest.raises(SystemExit):
        parse_args(
            ["--input", "x.csv", "--model_dir", "m", "--output_dir", "o"]
            + ["--min_drift_rows", "-1"]
        )

    assert "--min_drift_rows" in capsys.readouterr().err
