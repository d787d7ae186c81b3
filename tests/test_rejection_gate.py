"""Runs that reject too many of the rows they read fail without _SUCCESS."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import readers, rejections
from pipeline import run as scoring
from pipeline.options import parse_args

MISSPELLED = "texure_worst"


def _misspelled_csv(frame, path, rows: int):
    frame.head(rows).rename(columns={"texture_worst": MISSPELLED}).to_csv(
        path, index=False
    )


def _good_csv(frame, path, rows: int):
    frame.head(rows).to_csv(path, index=False)


def _main(inputs, model_dir, output_dir, capsys, *extra):
    argv = ["--model_dir", str(model_dir), "--output_dir", str(output_dir), *extra]
    for path in inputs:
        argv += ["--input", str(path)]
    status = scoring.main(argv)
    return status, capsys.readouterr().err


def _summary(output_dir) -> dict:
    return json.loads((output_dir / "summary.json").read_text())


def test_all_rows_rejected_fails_run(tmp_path, wdbc_frame, model_dir, capsys):
    path = tmp_path / "rows.csv"
    _misspelled_csv(wdbc_frame, path, 7)
    output_dir = tmp_path / "scored"

    status, err = _main([path], model_dir, output_dir, capsys)

    assert status == 4
    assert not (output_dir / "_SUCCESS").exists()
    summary = _summary(output_dir)
    assert summary["rows_read"] == 7
    assert summary["rows_scored"] == 0
    assert summary["rejections"]["passed"] is False
    # summary.json counts reasons by category; each row's record keeps the
    # full reason, which names the misspelled header column.
    assert "missing feature columns (7 rows)" in err
    assert "rejected-*.jsonl" in err
    records = [
        json.loads(line)
        for shard in output_dir.glob("rejected-*.jsonl")
        for line in shard.read_text().splitlines()
    ]
    assert len(records) == 7
    assert all(MISSPELLED in record["reason"] for record in records)
    assert (output_dir / "report.html").is_file()
    assert "No _SUCCESS was written" in (output_dir / "report.html").read_text()
    assert list(output_dir.glob("rejected-*.jsonl"))


def test_reason_names_unmatched_csv_column(tmp_path, wdbc_frame):
    path = tmp_path / "rows.csv"
    _misspelled_csv(wdbc_frame, path, 3)

    items = list(readers.read_shard(str(path), 8))

    assert len(items) == 3
    for item in items:
        assert isinstance(item, readers.RejectedRow)
        assert item.reason == (
            "missing feature columns: texture_worst "
            f"(header columns that match no feature: {MISSPELLED})"
        )


def test_reason_names_unmatched_parquet_column(tmp_path, wdbc_frame):
    path = tmp_path / "rows.parquet"
    frame = wdbc_frame.head(3).rename(columns={"texture_worst": MISSPELLED})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)

    items = list(readers.read_shard(str(path), 8))

    assert len(items) == 3
    for item in items:
        assert isinstance(item, readers.RejectedRow)
        assert item.reason == (
            "missing feature columns: texture_worst "
            f"(header columns that match no feature: {MISSPELLED})"
        )


@pytest.mark.parametrize("limit, expected_status", [("0.05", 4), ("0.5", 0), ("1", 0)])
def test_max_rejected_share_gate(
    tmp_path, wdbc_frame, model_dir, capsys, limit, expected_status
):
    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    _good_csv(wdbc_frame, good, 20)
    _misspelled_csv(wdbc_frame, bad, 5)
    output_dir = tmp_path / "scored"

    status, err = _main(
        [good, bad], model_dir, output_dir, capsys, "--max_rejected_share", limit
    )

    assert status == expected_status
    assert (output_dir / "_SUCCESS").exists() is (expected_status == 0)
    rejections = _summary(output_dir)["rejections"]
    assert rejections["rejected_share"] == pytest.approx(0.2)
    assert rejections["max_rejected_share"] == float(limit)
    assert rejections["passed"] is (expected_status == 0)
    if expected_status:
        assert "--max_rejected_share" in err
        assert "missing feature columns (5 rows)" in err


def test_some_rows_rejected_passes_by_default(tmp_path, wdbc_frame, model_dir, capsys):
    good = tmp_path / "good.csv"
    bad = tmp_path / "bad.csv"
    _good_csv(wdbc_frame, good, 5)
    _misspelled_csv(wdbc_frame, bad, 5)
    output_dir = tmp_path / "scored"

    status, _ = _main([good, bad], model_dir, output_dir, capsys)

    assert status == 0
    assert (output_dir / "_SUCCESS").exists()
    assert _summary(output_dir)["rejections"]["passed"] is True


def test_no_rows_read_passes(tmp_path, wdbc_frame, model_dir, capsys):
    path = tmp_path / "header_only.csv"
    _good_csv(wdbc_frame, path, 0)
    output_dir = tmp_path / "scored"

    status, _ = _main([path], model_dir, output_dir, capsys)

    assert status == 0
    assert (output_dir / "_SUCCESS").exists()
    assert _summary(output_dir)["rows_read"] == 0


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_max_rejected_share_rejects_invalid(value, capsys):
    with pytest.raises(SystemExit):
        parse_args(
            ["--input", "x.csv", "--model_dir", "m", "--output_dir", "o"]
            + ["--max_rejected_share", value]
        )

    assert "--max_rejected_share" in capsys.readouterr().err


def test_gate_message_counts_unnamed_reasons():
    summary = {
        "rows_read": 10,
        "rows_scored": 0,
        "rows_rejected": 10,
        "rejected_by_reason": {"a": 4, "b": 3, "c": 2, "d": 1},
    }

    message = rejections.rejection_gate(summary, None)["message"]

    assert message.endswith(
        "Top rejection reasons: a (4 rows); b (3 rows); c (2 rows); and 1 more reason."
    )
