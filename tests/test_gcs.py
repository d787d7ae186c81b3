"""Training and scoring with gs:// paths against a local Cloud Storage emulator.

The emulator (``gcp-storage-emulator``) serves the Cloud Storage JSON API on
127.0.0.1 from memory. google-cloud-storage sends every request there because
``STORAGE_EMULATOR_HOST`` is set, and Beam's GCS file system builds its
clients with that library. The tests also pass inside a network namespace
that has only the loopback interface, which shows they need no other host.
"""

import hashlib
import io
import json
import logging
import socket
import time

import apache_beam as beam
import google.auth
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pipeline import drift, transforms
from pipeline import model as model_lib
from pipeline import run as score
from pipeline.report import REPORT_NAME
from tests.conftest import BUNDLED_DATA, score_with_signature
from train import cli
from wdbc import schema

BUCKET = "wdbc-test-bucket"
MISSING_BUCKET = "wdbc-no-such-bucket"
TRAIN_PREFIX = "train"
FEATURES = list(schema.FEATURE_NAMES)
STALE_OUTPUTS = (
    "scored-00000-of-00009.parquet",
    "rejected-00003-of-00004.jsonl",
    "summary.json",
    "_SUCCESS",
    "beam-temp-scored-0123abcd/part-0",
)
UNRELATED_FILE = "notes.txt"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _anonymous_default(scopes=None, **kwargs):
    return AnonymousCredentials(), None


class Emulator:
    """A google-cloud-storage client for the emulator's test bucket.

    The tests place inputs and inspect outputs with this client, not with
    Beam's FileSystems, so a bug in the code under test cannot hide itself.
    """

    def __init__(self):
        self.client = storage.Client()
        self.bucket = self.client.bucket(BUCKET)
        self.setup_seconds = float("nan")

    def upload(self, name: str, content: bytes) -> str:
        self.bucket.blob(name).upload_from_string(content)
        return f"gs://{BUCKET}/{name}"

    def download(self, name: str) -> bytes:
        return self.bucket.blob(name).download_as_bytes()

    def names(self, prefix: str) -> list[str]:
        """Return the object names under ``prefix/``, relative to it."""
        start = prefix.rstrip("/") + "/"
        blobs = self.client.list_blobs(BUCKET, prefix=start)
        return sorted(blob.name[len(start) :] for blob in blobs)


@pytest.fixture(scope="module")
def gcs():
    """Start the emulator on a free loopback port with one empty bucket.

    Beam's GCS client takes its credentials from ``google.auth.default()``.
    With no credentials on the machine, Beam 2.77 retries that look-up with
    exponential backoff for about 25 seconds and then connects anonymously.
    Returning anonymous credentials at once gives the same client without the
    wait; the emulator does not check credentials.
    """
    started = time.monotonic()
    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
            patch.setattr(google.auth, "default", _anonymous_default)
            emulator = Emulator()
            emulator.client.create_bucket(BUCKET)
            # The first FileSystems call on gs:// builds Beam's credentials.
            FileSystems.match([f"gs://{BUCKET}/*"])
            emulator.setup_seconds = time.monotonic() - started
            print(f"\nStorage emulator fixture ready in {emulator.setup_seconds:.2f} s")
            yield emulator
    finally:
        server.stop()


@pytest.fixture(scope="module")
def gcs_training(gcs):
    """Train from data in the bucket with every output written to the bucket."""
    data_path = gcs.upload("data/wdbc.data", BUNDLED_DATA.read_bytes())
    status = cli.main(
        ["--data", data_path, "--output_dir", f"gs://{BUCKET}/{TRAIN_PREFIX}"]
    )
    assert status == 0
    metrics = json.loads(gcs.download(f"{TRAIN_PREFIX}/metrics.json"))
    return {"data_path": data_path, "metrics": metrics}


@pytest.fixture(scope="module")
def gcs_version(gcs, gcs_training, tmp_path_factory):
    """Download the export from the bucket; return its version and signature."""
    version = gcs_training["metrics"]["model_version"]
    prefix = f"{TRAIN_PREFIX}/model/{version}"
    local_dir = tmp_path_factory.mktemp("downloaded-export")
    for name in gcs.names(prefix):
        target = local_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gcs.download(f"{prefix}/{name}"))
    loaded = tf.saved_model.load(str(local_dir))
    signature = loaded.signatures[schema.SIGNATURE_KEY]
    # The signature holds only a weak reference to the loaded object.
    signature.loaded_object = loaded
    return version, signature


def test_emulator_fixture_is_fast(gcs):
    # Beam's credential retries alone take about 25 s when not bypassed.
    assert gcs.setup_seconds < 10


def test_training_writes_outputs_to_bucket(gcs, gcs_training):
    metrics = gcs_training["metrics"]
    version = metrics["model_version"]
    names = gcs.names(TRAIN_PREFIX)

    assert "metrics.json" in names
    assert "history.json" in names
    assert [n for n in names if n.startswith("plots/")] == [
        "plots/accuracy.png",
        "plots/confusion_matrix_test.png",
        "plots/confusion_matrix_train.png",
        "plots/log_loss.png",
        "plots/precision_recall.png",
        "plots/roc.png",
    ]
    assert [n for n in names if n.startswith("model/")] == [
        f"model/{version}/{schema.METADATA_RELPATH}",
        f"model/{version}/fingerprint.pb",
        f"model/{version}/saved_model.pb",
        f"model/{version}/variables/variables.data-00000-of-00001",
        f"model/{version}/variables/variables.index",
    ]
    assert gcs.download(f"{TRAIN_PREFIX}/plots/roc.png").startswith(b"\x89PNG")
    assert metrics["model_dir"] == f"gs://{BUCKET}/{TRAIN_PREFIX}/model/{version}"


def test_training_reads_data_from_bucket(gcs_training):
    data = gcs_training["metrics"]["data"]

    assert data["path"] == gcs_training["data_path"]
    assert data["sha256"] == hashlib.sha256(BUNDLED_DATA.read_bytes()).hexdigest()
    assert data["train_rows"] == 427
    assert data["test_rows"] == 142


def test_bucket_export_matches_local_export(gcs, gcs_version, serving_signature):
    version, signature = gcs_version
    metadata = json.loads(
        gcs.download(f"{TRAIN_PREFIX}/model/{version}/{schema.METADATA_RELPATH}")
    )
    frame = pd.read_csv(BUNDLED_DATA, header=None, names=list(schema.UCI_COLUMNS))
    features = frame[FEATURES].to_numpy()

    probability, predicted = score_with_signature(signature, features)
    local_probability, local_predicted = score_with_signature(
        serving_signature, features
    )

    assert metadata["model_version"] == version
    # Same data, seed and devices give the same weights with op determinism.
    np.testing.assert_allclose(probability, local_probability, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(predicted, local_predicted)


def _shard_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def _upload_shards(gcs, frame: pd.DataFrame, prefix: str, fmt: str, shards: int):
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), shards)):
        gcs.upload(f"{prefix}/part-{i}.{fmt}", _shard_bytes(frame.iloc[rows], fmt))
    return f"gs://{BUCKET}/{prefix}/*.{fmt}"


def _read_scored(gcs, prefix: str, names: list[str], fmt: str) -> pd.DataFrame:
    frames = []
    for name in names:
        if not name.startswith("scored-"):
            continue
        content = gcs.download(f"{prefix}/{name}")
        if fmt == "parquet":
            frames.append(pq.read_table(io.BytesIO(content)).to_pandas())
        elif fmt == "csv":
            frames.append(
                pd.read_csv(io.BytesIO(content), dtype={schema.ID_COLUMN: str})
            )
        else:
            frames.append(
                pd.read_json(
                    io.BytesIO(content), lines=True, dtype={schema.ID_COLUMN: str}
                )
            )
    assert frames, f"no scored shards under gs://{BUCKET}/{prefix}"
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(
    "input_format,output_format",
    [("parquet", "parquet"), ("csv", "jsonl")],
)
def test_scoring_reads_and_writes_bucket(
    gcs, gcs_version, wdbc_frame, input_format, output_format
):
    version, signature = gcs_version
    pattern = _upload_shards(
        gcs, wdbc_frame, f"shards-{input_format}", input_format, shards=3
    )
    output_prefix = f"scored-{input_format}"
    for name in STALE_OUTPUTS + (UNRELATED_FILE,):
        gcs.upload(f"{output_prefix}/{name}", b"from an earlier run\n")

    score.run(
        [
            "--input",
            pattern,
            "--model_dir",
            f"gs://{BUCKET}/{TRAIN_PREFIX}/model",
            "--output_dir",
            f"gs://{BUCKET}/{output_prefix}",
            "--output_format",
            output_format,
            "--batch_size",
            "64",
        ]
    )

    names = gcs.names(output_prefix)
    scored = _read_scored(gcs, output_prefix, names, output_format)
    summary = json.loads(gcs.download(f"{output_prefix}/{transforms.SUMMARY_NAME}"))
    expected_probability, expected_class = score_with_signature(
        signature, wdbc_frame[FEATURES].to_numpy()
    )
    expected = pd.DataFrame(
        {"probability": expected_probability, "predicted_class": expected_class},
        index=wdbc_frame[schema.ID_COLUMN],
    )
    scored = scored.set_index(schema.ID_COLUMN).loc[expected.index]

    assert len(scored) == len(wdbc_frame)
    np.testing.assert_allclose(
        scored[schema.PROBABILITY_KEY], expected["probability"], rtol=0, atol=1e-6
    )
    np.testing.assert_array_equal(scored[schema.CLASS_KEY], expected["predicted_class"])
    assert set(scored[schema.MODEL_VERSION_COLUMN].astype(str)) == {version}
    assert summary["rows_read"] == len(wdbc_frame)
    assert summary["rows_scored"] == len(wdbc_frame)
    assert summary["rows_rejected"] == 0
    assert summary["files_read"] == 3
    assert all(source.startswith(f"gs://{BUCKET}/") for source in summary["files"])
    assert summary["model_version"] == version
    assert transforms.SUCCESS_NAME in names
    assert REPORT_NAME in names
    assert UNRELATED_FILE in names
    assert not [n for n in names if n.startswith("beam-temp-")]
    assert "scored-00000-of-00009.parquet" not in names
    assert "rejected-00003-of-00004.jsonl" not in names
    assert gcs.download(f"{output_prefix}/{transforms.SUCCESS_NAME}") == b""
    assert sorted(summary["scored_files"]) == sorted(
        n for n in names if n.startswith("scored-")
    )


def test_bucket_model_copied_once_per_process(gcs, gcs_training, wdbc_frame, caplog):
    pattern = _upload_shards(gcs, wdbc_frame, "shards-once", "parquet", shards=4)
    version = gcs_training["metrics"]["model_version"]
    version_dir = f"gs://{BUCKET}/{TRAIN_PREFIX}/model/{version}"
    model_lib.LOAD_COUNTS.clear()

    with caplog.at_level(logging.INFO, logger=model_lib.__name__):
        result = score.run(
            [
                "--input",
                pattern,
                "--model_dir",
                version_dir,
                "--output_dir",
                f"gs://{BUCKET}/scored-once",
                "--batch_size",
                "16",
                "--direct_num_workers",
                "2",
                "--direct_running_mode",
                "multi_threading",
            ]
        )

    counters = {
        c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
    }
    copies = [r for r in caplog.records if r.getMessage().startswith("Copied ")]
    assert counters["batches_scored"] >= len(wdbc_frame) // 16
    assert counters["model_loads"] == 1
    assert model_lib.LOAD_COUNTS == {version_dir: 1}
    assert len(copies) == 1
    assert copies[0].getMessage().startswith(f"Copied 5 model files from {version_dir}")


def test_drift_gate_on_bucket_skips_success(gcs, gcs_training, wdbc_frame):
    # Only malignant rows: their feature distribution is far from training's.
    # Their 212 rows are below the default --min_drift_rows, but their PSI is
    # far above the small-sample bias of about 0.06, so the test lowers it.
    malignant = wdbc_frame[wdbc_frame[schema.LABEL_COLUMN] == schema.MALIGNANT]
    pattern = _upload_shards(gcs, malignant, "shards-drift", "parquet", shards=1)
    output_prefix = "scored-drift"

    with pytest.raises(drift.DriftGateError):
        score.run(
            [
                "--input",
                pattern,
                "--model_dir",
                f"gs://{BUCKET}/{TRAIN_PREFIX}/model",
                "--output_dir",
                f"gs://{BUCKET}/{output_prefix}",
                "--max_psi",
                "0.25",
                "--min_drift_rows",
                "200",
            ]
        )

    names = gcs.names(output_prefix)
    summary = json.loads(gcs.download(f"{output_prefix}/{transforms.SUMMARY_NAME}"))
    assert summary["drift"]["gate"]["passed"] is False
    assert summary["rows_scored"] == len(malignant)
    assert transforms.SUCCESS_NAME not in names


@pytest.mark.parametrize("flag", ["input", "model_dir", "output_dir"])
def test_scoring_missing_bucket_names_value(gcs, gcs_training, flag):
    pattern = gcs.upload("shards-missing/wdbc.csv", BUNDLED_DATA.read_bytes())
    args = {
        "input": pattern,
        "model_dir": f"gs://{BUCKET}/{TRAIN_PREFIX}/model",
        "output_dir": f"gs://{BUCKET}/scored-missing-{flag}",
    }
    args[flag] = f"gs://{MISSING_BUCKET}/folder" + ("/*.csv" if flag == "input" else "")
    argv = [part for key, value in args.items() for part in (f"--{key}", value)]

    with pytest.raises(score.JobError) as raised:
        score.run(argv)

    message = str(raised.value)
    assert f"--{flag} {args[flag]}" in message
    assert f"bucket gs://{MISSING_BUCKET} does not exist" in message
    assert gcs.names(f"scored-missing-{flag}") == []


def test_training_missing_data_bucket_fails(gcs, capsys):
    data_path = f"gs://{MISSING_BUCKET}/wdbc.data"

    status = cli.main(
        ["--data", data_path, "--output_dir", f"gs://{BUCKET}/train-missing-data"]
    )

    error = capsys.readouterr().err
    assert status == 2
    assert data_path in error
    assert f"bucket gs://{MISSING_BUCKET} does not exist" in error
    assert gcs.names("train-missing-data") == []


def test_training_missing_output_bucket_fails_first(gcs, capsys, caplog):
    output_dir = f"gs://{MISSING_BUCKET}/train"

    with caplog.at_level(logging.INFO):
        status = cli.main(["--output_dir", output_dir])

    error = capsys.readouterr().err
    assert status == 2
    assert f"--output_dir {output_dir}" in error
    assert f"bucket gs://{MISSING_BUCKET} does not exist" in error
    # Rejected before the data is loaded, so before any training.
    assert not [r for r in caplog.records if "labeled rows" in r.getMessage()]


def test_model_version_skips_taken_bucket_folder(gcs):
    from train import export

    model_root = f"gs://{BUCKET}/versions/model"
    now = int(time.time())
    taken_versions = {str(version) for version in range(now, now + 5)}
    for version in taken_versions:
        gcs.upload(f"versions/model/{version}/variables/variables.index", b"x")

    version = export.new_model_version(model_root)

    assert version not in taken_versions
    assert int(version) > now


def test_export_uploads_metadata_last(gcs, gcs_training):
    version = gcs_training["metrics"]["model_version"]
    prefix = f"{TRAIN_PREFIX}/model/{version}/"
    blobs = gcs.client.list_blobs(BUCKET, prefix=prefix)
    # Generations are creation timestamps, so they give the upload order.
    by_generation = sorted(blobs, key=lambda blob: blob.generation)
    order = [blob.name[len(prefix) :] for blob in by_generation]

    assert len(order) == 5
    assert order[-1] == schema.METADATA_RELPATH
    assert order[-2] == "saved_model.pb"


def test_empty_parquet_shard_in_bucket(gcs):
    prefix = "scored-empty"

    with BeamTestPipeline() as p:
        _ = (
            p
            | beam.Create([], reshuffle=False).with_output_types(pa.Table)
            | transforms.WriteScored(f"gs://{BUCKET}/{prefix}", "parquet")
        )

    names = gcs.names(prefix)
    assert names == ["scored-00000-of-00001.parquet"]
    table = pq.read_table(io.BytesIO(gcs.download(f"{prefix}/{names[0]}")))
    assert table.schema == transforms.SCORED_SCHEMA
    assert table.num_rows == 0
