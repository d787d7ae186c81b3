"""End-to-end tests of the scoring pipeline on real shards and a real export."""

import glob
import json
import logging
import os
import shutil
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline import model as model_lib
from pipeline import readers, rejections, transforms
from pipeline import run as score
from pipeline.graph import build_pipeline
from pipeline.options import parse_args
from tests.conftest import BUNDLED_DATA
from train.data import Normalization
from train.export import ServingModel, export_model
from wdbc import schema

FEATURES = list(schema.FEATURE_NAMES)


def _write_shards(frame: pd.DataFrame, folder, fmt: str, num_shards: int = 3):
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), num_shards)):
        part = frame.iloc[rows]
        path = folder / f"part-{i}.{fmt}"
        if fmt == "csv":
            part.to_csv(path, index=False)
        else:
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path)
    return str(folder / f"*.{fmt}")


def _read_scored(output_dir, fmt: str) -> pd.DataFrame:
    paths = sorted(glob.glob(str(output_dir / f"scored-*-of-*.{fmt}")))
    assert paths, f"no scored shards in {output_dir}"
    if fmt == "parquet":
        frames = [pq.read_table(p).to_pandas() for p in paths]
    elif fmt == "csv":
        frames = [pd.read_csv(p, dtype={schema.ID_COLUMN: str}) for p in paths]
    else:
        frames = [
            pd.read_json(p, lines=True, dtype={schema.ID_COLUMN: str}) for p in paths
        ]
    return pd.concat(frames, ignore_index=True)


def _signature_probabilities(version_dir, frame: pd.DataFrame) -> np.ndarray:
    serve = tf.saved_model.load(str(version_dir)).signatures[schema.SIGNATURE_KEY]
    x = tf.constant(frame[FEATURES].to_numpy(dtype=np.float32))
    return serve(**{schema.INPUT_KEY: x})[schema.PROBABILITY_KEY].numpy()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_scored_rows_match_signature(tmp_path, wdbc_frame, model_dir, version_dir, fmt):
    pattern = _write_shards(wdbc_frame, tmp_path / "shards", fmt)
    output_dir = tmp_path / "scored"

    score.run(
        [
            "--input",
            pattern,
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(output_dir),
        ]
    )

    scored = _read_scored(output_dir, "parquet")
    assert len(scored) == len(wdbc_frame)
    assert sorted(scored[schema.ID_COLUMN]) == sorted(wdbc_frame[schema.ID_COLUMN])
    expected = pd.Series(
        _signature_probabilities(version_dir, wdbc_frame),
        index=wdbc_frame[schema.ID_COLUMN],
    )
    actual = scored.set_index(schema.ID_COLUMN)[schema.PROBABILITY_KEY]
    np.testing.assert_allclose(
        actual.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=0, atol=1e-6
    )


def _scored_table(ids: list[str], version: str) -> pa.Table:
    n = len(ids)
    return pa.Table.from_arrays(
        [
            pa.array(ids),
            pa.array(np.linspace(0.1, 0.9, n)),
            pa.array(np.arange(n) % 2),
            pa.repeat(pa.scalar(version, pa.string()), n),
        ],
        schema=transforms.SCORED_SCHEMA,
    )


def _write_scored_parquet(tables: list[pa.Table], output_dir) -> str:
    """Write ``tables`` with ``WriteScored`` and return the one Parquet file."""
    with test_pipeline.TestPipeline() as p:
        _ = (
            p
            | beam.Create(tables, reshuffle=False).with_output_types(pa.Table)
            | transforms.WriteScored(str(output_dir), "parquet")
        )

    paths = glob.glob(str(output_dir / "scored-*.parquet"))
    assert len(paths) == 1
    return paths[0]


def test_parquet_sink_row_group_per_table(tmp_path):
    tables = [_scored_table(["a", "b", "c"], "7"), _scored_table(["d", "e"], "7")]

    parquet = pq.ParquetFile(_write_scored_parquet(tables, tmp_path / "scored"))

    assert parquet.schema_arrow == transforms.SCORED_SCHEMA
    assert parquet.metadata.num_row_groups == 2
    read = parquet.read()
    assert sorted(read.column(schema.ID_COLUMN).to_pylist()) == list("abcde")
    # Distinct ids and probabilities are written without a dictionary, the
    # class and the model version with one.
    encodings = {
        parquet.schema_arrow.names[i]: parquet.metadata.row_group(0).column(i).encodings
        for i in range(parquet.metadata.num_columns)
    }
    assert "RLE_DICTIONARY" not in encodings[schema.ID_COLUMN]
    assert "RLE_DICTIONARY" not in encodings[schema.PROBABILITY_KEY]
    assert "RLE_DICTIONARY" in encodings[schema.CLASS_KEY]
    assert "RLE_DICTIONARY" in encodings[schema.MODEL_VERSION_COLUMN]


def test_parquet_sink_writes_empty_shard(tmp_path):
    output_dir = tmp_path / "scored"

    path = _write_scored_parquet([], output_dir)

    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow == transforms.SCORED_SCHEMA
    assert parquet.metadata.num_rows == 0
    frame = pd.read_parquet(path)
    assert list(frame.columns) == transforms.SCORED_SCHEMA.names
    assert len(frame) == 0
    assert sorted(p.name for p in output_dir.iterdir()) == [os.path.basename(path)]


@pytest.mark.parametrize("output_format", ["csv", "jsonl"])
def test_text_output_formats(
    tmp_path, wdbc_frame, model_dir, export_metadata, output_format
):
    pattern = _write_shards(wdbc_frame, tmp_path / "shards", "parquet", num_shards=2)
    output_dir = tmp_path / "scored"

    score.run(
        [
            "--input",
            pattern,
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(output_dir),
            "--output_format",
            output_format,
        ]
    )

    scored = _read_scored(output_dir, output_format)
    assert list(scored.columns) == list(schema.OUTPUT_COLUMNS)
    assert len(scored) == len(wdbc_frame)
    assert set(scored[schema.MODEL_VERSION_COLUMN].astype(str)) == {
        export_metadata["model_version"]
    }
    threshold = export_metadata["threshold"]
    expected_class = (scored[schema.PROBABILITY_KEY] >= threshold).astype(int)
    assert (scored[schema.CLASS_KEY] == expected_class).all()


def test_headerless_uci_csv_is_scored(tmp_path, wdbc_frame, model_dir, version_dir):
    shard = tmp_path / "shards" / "wdbc.data"
    shard.parent.mkdir()
    wdbc_frame.to_csv(shard, header=False, index=False)
    output_dir = tmp_path / "scored"

    score.run(
        [
            "--input",
            str(shard),
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(output_dir),
        ]
    )

    scored = _read_scored(output_dir, "parquet").set_index(schema.ID_COLUMN)
    expected = _signature_probabilities(version_dir, wdbc_frame)
    actual = scored.loc[wdbc_frame[schema.ID_COLUMN], schema.PROBABILITY_KEY]
    np.testing.assert_allclose(actual.to_numpy(), expected, rtol=0, atol=1e-6)


def test_file_without_ids_gets_row_keys(tmp_path, wdbc_frame, model_dir):
    shard = tmp_path / "shards" / "no-ids.csv"
    shard.parent.mkdir()
    wdbc_frame[FEATURES].head(5).to_csv(shard, index=False)
    output_dir = tmp_path / "scored"

    score.run(
        [
            "--input",
            str(shard),
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(output_dir),
        ]
    )

    scored = _read_scored(output_dir, "parquet")
    assert sorted(scored[schema.ID_COLUMN]) == [f"{shard}:{row}" for row in range(1, 6)]


def _row_count(table: pa.Table) -> int:
    return table.num_rows


def _ids(table: pa.Table) -> list:
    return table.column(schema.ID_COLUMN).to_pylist()


def test_graph_with_test_pipeline(tmp_path, wdbc_frame, model_dir):
    pattern = _write_shards(wdbc_frame, tmp_path / "shards", "csv", num_shards=4)
    config, _ = parse_args(
        [
            "--input",
            pattern,
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(tmp_path / "scored"),
            "--batch_size",
            "50",
        ]
    )
    files = score.match_inputs(config.input)
    version_dir, _ = model_lib.resolve_export(config.model_dir)

    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        outputs = build_pipeline(p, config, files, version_dir)
        ids = outputs["scored_tables"] | "Ids" >> beam.FlatMap(_ids)
        assert_that(ids, equal_to(list(wdbc_frame[schema.ID_COLUMN])))
        batch_sizes = outputs["scored_tables"] | "Sizes" >> beam.Map(_row_count)
        assert_that(
            batch_sizes
            | "Largest" >> beam.combiners.Top.Of(1)
            | "Unwrap" >> beam.FlatMap(lambda top: top),
            equal_to([50]),
            label="BatchSizeCapped",
        )


def test_model_loaded_once_per_process(tmp_path, wdbc_frame, model_dir, version_dir):
    pattern = _write_shards(wdbc_frame, tmp_path / "shards", "parquet", num_shards=3)
    model_lib.LOAD_COUNTS.clear()

    result = score.run(
        [
            "--input",
            pattern,
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(tmp_path / "scored"),
            "--batch_size",
            "16",
        ]
    )

    counters = {
        c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
    }
    assert counters["batches_scored"] >= len(wdbc_frame) // 16
    assert counters["model_loads"] == 1
    assert model_lib.LOAD_COUNTS == {str(version_dir): 1}


def test_model_not_loaded_without_batches(tmp_path, wdbc_frame, model_dir):
    # Without a feature column every row is rejected, so nothing is scored.
    pattern = _write_shards(
        wdbc_frame.drop(columns=["texture_se"]), tmp_path / "shards", "csv"
    )
    model_lib.LOAD_COUNTS.clear()
    output_dir = tmp_path / "scored"

    # A run that scores no row fails its rejection gate after writing.
    with pytest.raises(rejections.RejectionGateError):
        score.run(
            [
                "--input",
                pattern,
                "--model_dir",
                str(model_dir),
                "--output_dir",
                str(output_dir),
            ]
        )

    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["rows_rejected"] == len(wdbc_frame)
    assert summary["rows_scored"] == 0
    assert model_lib.LOAD_COUNTS == {}


_COLLECTOR_CHECK = """
import gc, json, sys
from pipeline import model
state = {}
if sys.argv[2] == "disabled":
    gc.disable()
model.load_model(sys.argv[1])
state["enabled_after_first"] = gc.isenabled()
state["frozen_after_first"] = gc.get_freeze_count()
model.load_model(sys.argv[1])
state["enabled_after_second"] = gc.isenabled()
state["frozen_after_second"] = gc.get_freeze_count()
print(json.dumps(state))
"""


@pytest.mark.parametrize("collector", ["enabled", "disabled"])
def test_model_load_freezes_collector_once(version_dir, collector):
    # A fresh process, so that no earlier load in this one has frozen objects.
    completed = subprocess.run(
        [sys.executable, "-c", _COLLECTOR_CHECK, str(version_dir), collector],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    state = json.loads(completed.stdout.strip().splitlines()[-1])

    assert state["enabled_after_first"] is (collector == "enabled")
    assert state["enabled_after_second"] is (collector == "enabled")
    # TensorFlow's modules and the loaded model are frozen by the first load;
    # the second adds nothing.
    assert state["frozen_after_first"] > 100_000
    assert state["frozen_after_second"] == state["frozen_after_first"]


def test_export_metadata_is_plain_json(version_dir):
    metadata = json.loads((version_dir / schema.METADATA_RELPATH).read_text())

    assert metadata["feature_names"] == FEATURES
    assert metadata["model_version"] == version_dir.name
    assert 0.0 < metadata["threshold"] < 1.0


@pytest.mark.parametrize("batch_size", [16, 4096])
def test_model_loaded_once_per_worker_process(
    tmp_path, wdbc_frame, model_dir, batch_size
):
    pattern = _write_shards(wdbc_frame, tmp_path / "shards", "parquet", num_shards=4)
    pid_dir = tmp_path / "scoring-pids"
    pid_dir.mkdir()
    config, beam_args = parse_args(
        [
            "--input",
            pattern,
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(tmp_path / "scored"),
            "--batch_size",
            str(batch_size),
            "--direct_num_workers",
            "2",
            "--direct_running_mode",
            "multi_processing",
        ]
    )
    files = score.match_inputs(config.input)
    version_dir, _ = model_lib.resolve_export(config.model_dir)

    # Runs fused with ScoreBatches, so in the worker process that scored the
    # table. A local function is pickled by value, so workers need not import
    # this test module.
    def record_pid(table):
        (pid_dir / str(os.getpid())).touch()
        return table.num_rows

    pipeline = beam.Pipeline(options=score.pipeline_options(beam_args))
    outputs = build_pipeline(pipeline, config, files, version_dir)
    _ = outputs["scored_tables"] | "RecordPid" >> beam.Map(record_pid)
    result = pipeline.run()
    result.wait_until_finish()

    counters = {
        c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
    }
    scoring_pids = {int(p.name) for p in pid_dir.iterdir()}
    assert os.getpid() not in scoring_pids
    assert 1 <= len(scoring_pids) <= 2
    assert counters["rows_scored"] == len(wdbc_frame)
    assert counters["batches_scored"] >= len(wdbc_frame) // batch_size
    assert counters["model_loads"] == len(scoring_pids)


def _feature_batch(rows: int) -> readers.FeatureBatch:
    features = np.arange(rows * 30, dtype=np.float64).reshape(rows, 30)
    return readers.FeatureBatch(
        source="shard.csv",
        rows=np.arange(1, rows + 1, dtype=np.int64),
        ids=pa.array([f"id-{i}" for i in range(rows)]),
        features=features,
        labels=np.zeros(rows, dtype=np.int8),
    )


def test_overflow_check_skips_in_range_batch(version_dir, wdbc_frame):
    model = model_lib.load_model(str(version_dir))
    features = wdbc_frame[FEATURES].to_numpy(np.float64)

    assert model.normalized_overflow(features) is None
    assert model.normalized_overflow(np.asfortranarray(features)) is None
    assert model.normalized_overflow(features[:0]) is None


def test_overflow_check_is_exact_outside_bounds(version_dir, wdbc_frame):
    model = model_lib.load_model(str(version_dir))
    features = wdbc_frame[FEATURES].to_numpy(np.float64)[:4].copy()
    radius = FEATURES.index("radius_mean")
    compactness = FEATURES.index("compactness_se")
    # 3e38 is beyond the bounds of both columns; it normalizes to a finite
    # value with radius_mean's std and to infinity with compactness_se's.
    features[1, radius] = 3e38
    features[2, compactness] = 3e38

    mask = model.normalized_overflow(features)

    assert mask is not None
    assert mask.shape == features.shape
    assert np.flatnonzero(mask.any(axis=1)).tolist() == [2]
    assert np.flatnonzero(mask[2]).tolist() == [compactness]


def _export_with_normalization(model_root, mean, std) -> str:
    """Export a model that weighs only radius_mean, with the given statistics."""
    weights = np.zeros((schema.NUM_FEATURES, 1), np.float32)
    weights[FEATURES.index("radius_mean")] = 1.0
    normalization = Normalization(
        mean=np.asarray(mean, np.float32), std=np.asarray(std, np.float32)
    )
    model = ServingModel(weights, 0.0, normalization, 0.5, "42")
    return export_model(model, str(model_root))


def test_overflow_check_huge_mean(tmp_path, wdbc_frame):
    features = wdbc_frame[FEATURES].to_numpy(np.float64)[:3].copy()
    radius = FEATURES.index("radius_mean")
    # A radius_mean column of 1e38 and 3e38 in the training rows, within the
    # float32 range, gives mean 2e38 and std 1e38.
    training = np.tile(features[:1], (4, 1))
    training[:, radius] = [1e38, 3e38, 1e38, 3e38]
    fitted = Normalization.fit(training)
    version_dir = _export_with_normalization(tmp_path, fitted.mean, fitted.std)
    model = model_lib.load_model(version_dir)
    # -1.7e38 - 2e38 is below -3.4e38, so float32 (x - mean) / std is -inf.
    features[:, radius] = [1.0, -1.7e38, 1.7e38]

    probability, _ = model.predict(features)
    mask = model.normalized_overflow(features)
    batch = readers.FeatureBatch(
        source="shard.csv",
        rows=np.arange(1, 4, dtype=np.int64),
        ids=pa.array(["a", "b", "c"]),
        features=features,
        labels=np.zeros(3, dtype=np.int8),
    )
    _, _, _, rejected = transforms._reject_unscorable(
        batch, probability, np.zeros(3, np.int64), model.normalized_overflow
    )

    # The model turns the -inf into probability 0, a finite score.
    assert np.isfinite(probability).all()
    assert mask is not None
    assert np.flatnonzero(mask.any(axis=1)).tolist() == [1]
    assert [row.row for row in rejected] == [2]
    assert "radius_mean" in rejected[0].reason


def test_nan_probability_is_rejected():
    batch = _feature_batch(4)
    probability = np.array([0.1, np.nan, 0.9, np.nan], dtype=np.float32)
    predicted = np.array([0, 0, 1, 0], dtype=np.int64)

    def no_overflow(features):
        return np.zeros(features.shape, dtype=bool)

    kept, kept_probability, kept_predicted, rejected = transforms._reject_unscorable(
        batch, probability, predicted, no_overflow
    )

    assert kept.rows.tolist() == [1, 3]
    assert kept.ids.to_pylist() == ["id-0", "id-2"]
    assert kept.features.tolist() == batch.features[[0, 2]].tolist()
    assert kept_probability.tolist() == pytest.approx([0.1, 0.9])
    assert kept_predicted.tolist() == [0, 1]
    assert [r.row for r in rejected] == [2, 4]
    reasons = {r.reason for r in rejected}
    assert reasons == {"the model returned a NaN probability"}
    assert rejected[0].values["id"] == "id-1"
    assert rejected[0].values["radius_mean"] == 30.0


def test_same_file_scored_once(tmp_path, monkeypatch, model_dir):
    folder = tmp_path / "input"
    folder.mkdir()
    data = folder / "wdbc.data"
    shutil.copy(BUNDLED_DATA, data)
    (folder / "link.data").symlink_to(data)
    monkeypatch.chdir(tmp_path)
    output_dir = tmp_path / "scored"

    score.run(
        [
            "--input",
            "input/wdbc.data",
            "--input",
            str(data),
            "--input",
            str(folder / "link.data"),
            "--model_dir",
            str(model_dir),
            "--output_dir",
            str(output_dir),
        ]
    )

    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["files_read"] == 1
    assert summary["rows_read"] == 569
    assert summary["rows_scored"] == 569


@pytest.mark.parametrize("files, expected", [(1, "1 file "), (2, "2 files ")])
def test_run_log_counts_files(tmp_path, wdbc_frame, model_dir, caplog, files, expected):
    for i in range(files):
        wdbc_frame.head(3).to_csv(tmp_path / f"part-{i}.csv", index=False)

    caplog.set_level(logging.INFO, logger="pipeline.transforms")
    with caplog.at_level(logging.INFO, logger="pipeline.run"):
        status = score.main(
            [
                "--input",
                str(tmp_path / "part-*.csv"),
                "--model_dir",
                str(model_dir),
                "--output_dir",
                str(tmp_path / "scored"),
            ]
        )

    assert status == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "pipeline.run"]
    assert any(m.startswith(f"Scoring {expected}with model") for m in messages)
    counts = [r.getMessage() for r in caplog.records if r.name == "pipeline.transforms"]
    read = f"Read {3 * files} rows from {expected.strip()}:"
    assert any(m.startswith(read) for m in counts)
