"""Fixtures shared by the test modules: environment, a trained export, shards."""

import os

# Tests must never reach a Google host or the metadata server. These are set
# before any Google client library is imported.
os.environ["NO_GCE_CHECK"] = "true"
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "wdbc-test")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import pathlib  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from wdbc import schema  # noqa: E402

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
