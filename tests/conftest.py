"""Fixtures shared by the test modules: environment, a trained export, shards."""

import os

# Tests must never reach a Google host or the metadata server. These are set
# before any Google client library is imported.
os.environ["NO_GCE_CHECK"] = "true"
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "wdbc-test")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from wdbc import schema  # noqa: E402

# NOTE: after the whole suite, the pytest process can take several minutes to
# exit while TensorFlow destroys tf.data iterators (each waits for its worker
# thread). Test files run alone exit within seconds; the test that leaves the
# iterators behind is not yet found.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
BUNDLED_DATA = REPO_ROOT / "data" / "wdbc.data"


@pytest.fixture(scope="session")
def wdbc_frame() -> pd.DataFrame:
    """The bundled UCI file as a DataFrame with schema column names."""
    return pd.read_csv(
        BUNDLED_DATA, header=None, names=list(schema.UCI_COLUMNS), dtype={"id": str}
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> pathlib.Path:
    """Train once per session with the default flags; return the output dir."""
    from train import cli

    output_dir = tmp_path_factory.mktemp("trained")
    status = cli.main(["--output_dir", str(output_dir)])
    assert status == 0
    return output_dir


@pytest.fixture(scope="session")
def model_dir(trained_run) -> pathlib.Path:
    """The base model folder of the session's export."""
    return trained_run / "model"


@pytest.fixture(scope="session")
def version_dir(model_dir) -> pathlib.Path:
    """The single numbered version folder of the session's export."""
    versions = [p for p in model_dir.iterdir() if p.name.isdigit()]
    assert len(versions) == 1
    return versions[0]


@pytest.fixture(scope="session")
def export_metadata(version_dir) -> dict:
    return json.loads((version_dir / schema.METADATA_RELPATH).read_text())


@pytest.fixture(scope="session")
def serving_signature(version_dir):
    """The export's serving signature, loaded with TensorFlow directly."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir))
    signature = loaded.signatures[schema.SIGNATURE_KEY]
    # The signature holds only a weak reference to the loaded object.
    signature.loaded_object = loaded
    return signature


def score_with_signature(signature, features: np.ndarray) -> tuple:
    """Return the signature's probability and predicted class for the rows."""
    import tensorflow as tf

    outputs = signature(
        **{schema.INPUT_KEY: tf.constant(features.astype(np.float32).reshape(-1, 30))}
    )
    probability = outputs[schema.PROBABILITY_KEY].numpy().reshape(-1)
    predicted = outputs[schema.CLASS_KEY].numpy().reshape(-1)
    return probability, predicted


# Files of an earlier run placed in the output folder before a corpus run; the
# run must delete all of them except the unrelated notes file.
STALE_OUTPUTS = (
    "scored-00000-of-00009.parquet",
    "scored-00008-of-00009.csv",
    "rejected-00003-of-00004.jsonl",
    "summary.json",
    "_SUCCESS",
    "beam-temp-scored-0123abcd/part-0",
    "beam-temp-rejected-4567ef/",
)
UNRELATED_FILE = "notes.txt"


@dataclasses.dataclass
class CorpusRun:
    """One pipeline run over a whole corpus folder, and what it wrote."""

    input_format: str
    output_format: str
    input_dir: pathlib.Path
    output_dir: pathlib.Path
    cases: dict
    metrics: dict
    summary: dict
    scored: pd.DataFrame
    rejected: list

    def source(self, name: str) -> str:
        return str(self.input_dir / name)


def _place_stale_outputs(output_dir: pathlib.Path) -> None:
    output_dir.mkdir(parents=True)
    for name in STALE_OUTPUTS:
        path = output_dir / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("from an earlier run\n")
    (output_dir / UNRELATED_FILE).write_text("not an output\n")


def _counters(result) -> dict:
    # A counter such as rows_rejected is incremented by several steps, so the
    # totals are summed over steps.
    totals: dict = {}
    for counter in result.metrics().query()["counters"]:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + counter.committed
    return totals


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory, wdbc_frame, model_dir):
    """Return a function that runs the pipeline once per input format."""
    from apache_beam.testing.test_pipeline import TestPipeline

    from pipeline import run as scoring
    from tests import corpus

    output_formats = {"csv": "csv", "parquet": "parquet"}
    runs = {}

    def get(input_format: str) -> CorpusRun:
        if input_format in runs:
            return runs[input_format]
        root = tmp_path_factory.mktemp(f"corpus-{input_format}")
        input_dir = root / "input"
        output_dir = root / "output"
        cases = corpus.build_corpus(wdbc_frame, input_dir, input_format)
        _place_stale_outputs(output_dir)
        output_format = output_formats[input_format]
        result = scoring.run(
            [
                "--input",
                str(input_dir / "*"),
                "--model_dir",
                str(model_dir),
                "--output_dir",
                str(output_dir),
                "--output_format",
                output_format,
                "--batch_size",
                "8",
            ],
            test_pipeline=TestPipeline(runner="FnApiRunner"),
        )
        runs[input_format] = CorpusRun(
            input_format=input_format,
            output_format=output_format,
            input_dir=input_dir,
            output_dir=output_dir,
            cases=cases,
            metrics=_counters(result),
            summary=json.loads((output_dir / "summary.json").read_text()),
            scored=corpus.read_scored(output_dir, output_format),
            rejected=corpus.read_rejected(output_dir),
        )
        return runs[input_format]

    return get
