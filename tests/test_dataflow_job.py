"""Translate the scoring job for Dataflow offline and check the job Beam builds.

The dry-run tests run ``pipeline.run.run`` with DataflowRunner and
``--dry_run=True``. A local input, the session's local export and a local
output folder pass the launcher's checks without a network. Beam then
translates the job and builds its staged artifacts, but submits and uploads
nothing. Socket calls to any host but loopback raise during these tests.
"""

import importlib.metadata
import logging
import sys
import tarfile
import tempfile

import apache_beam as beam
import pytest

from pipeline import run as scoring
from tests import dataflow_dry_run as dry
from tests.conftest import BUNDLED_DATA, REPO_ROOT

CUSTOM_IMAGE = "us-central1-docker.pkg.dev/wdbc-test/wdbc/wdbc-scoring:test"
SDIST_MODULES = ("pipeline/graph.py", "pipeline/run.py", "wdbc/schema.py")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Block the network and keep Beam's staging files under ``tmp_path``."""
    blocked = dry.block_network(monkeypatch)
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    yield
    assert blocked == []


@pytest.fixture
def job_args(tmp_path, model_dir):
    """Return the job's own flags for one small local CSV shard."""
    shard = tmp_path / "shard.csv"
    lines = BUNDLED_DATA.read_text().splitlines(keepends=True)[:20]
    shard.write_text("".join(lines))
    return [
        "--input",
        str(shard),
        "--model_dir",
        str(model_dir),
        "--output_dir",
        str(tmp_path / "scored"),
    ]


def dry_run_job(argv):
    result = scoring.run(argv)
    assert result.state == beam.runners.runner.PipelineState.DONE
    return result.job


def requirement_lines(requires_txt: str) -> list[str]:
    """Return the unconditional requirements of an sdist's requires.txt."""
    lines = []
    for line in requires_txt.splitlines():
        if line.startswith("["):
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def test_dry_run_has_stable_step_labels(offline, job_args):
    job = dry_run_job(job_args + dry.dataflow_args())

    assert dry.top_level_labels(job) == list(dry.STEP_LABELS)
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert "ReadShards/ParDo(ReadShardsFn)" in names
    assert "ScoreBatches/ParDo(ScoreAndProfileFn)" in names


def test_dry_run_names_job_and_project(offline, job_args):
    job = dry_run_job(job_args + dry.dataflow_args())

    assert job.proto.name == dry.JOB_NAME
    assert job.google_cloud_options.project == dry.PROJECT
    assert job.google_cloud_options.region == dry.REGION
    # Beam adds a per-job folder under the given location.
    assert job.google_cloud_options.temp_location.startswith(dry.TEMP_LOCATION + "/")


def test_dry_run_stages_project_sdist(offline, job_args, caplog):
    with caplog.at_level(logging.INFO, logger="pipeline.run"):
        job = dry_run_job(job_args + dry.dataflow_args())

    assert job.options.view_as(beam.options.pipeline_options.SetupOptions).setup_file
    assert any("--setup_file" in r.getMessage() for r in caplog.records)
    (image, artifacts), *others = dry.environments(job).values()
    assert others == []
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert image.endswith(f"/beam_python{python}_sdk:{beam.__version__}")
    assert "workflow.tar.gz" in artifacts

    with tarfile.open(artifacts["workflow.tar.gz"]) as sdist:
        names = sdist.getnames()
        root = names[0].split("/")[0]
        assert root == "wdbc-scoring-0.1.0"
        for module in SDIST_MODULES:
            assert f"{root}/{module}" in names
        requires = sdist.extractfile(f"{root}/wdbc_scoring.egg-info/requires.txt")
        staged = requirement_lines(requires.read().decode())
    pinned = [
        r.replace(" ", "")
        for r in importlib.metadata.requires("wdbc-scoring")
        if "extra ==" not in r
    ]
    assert sorted(staged) == sorted(pinned)
    assert "apache-beam[gcp]==2.77.0" in staged
    assert "tensorflow==2.21.0" in staged


def test_dry_run_with_image_stages_no_sdist(offline, job_args):
    job = dry_run_job(
        job_args + dry.dataflow_args("--sdk_container_image", CUSTOM_IMAGE)
    )

    (image, artifacts), *others = dry.environments(job).values()
    assert others == []
    assert image == CUSTOM_IMAGE
    assert "workflow.tar.gz" not in artifacts
    setup = job.options.view_as(beam.options.pipeline_options.SetupOptions)
    assert setup.setup_file is None


def test_relative_setup_file_made_absolute(offline, job_args, monkeypatch):
    # Beam changes into the setup file's folder, which fails for a bare name.
    monkeypatch.chdir(REPO_ROOT)
    job = dry_run_job(job_args + dry.dataflow_args("--setup_file", "setup.py"))

    setup = job.options.view_as(beam.options.pipeline_options.SetupOptions)
    assert setup.setup_file == str(REPO_ROOT / "setup.py")
    _, artifacts = next(iter(dry.environments(job).values()))
    assert "workflow.tar.gz" in artifacts


def test_dataflow_without_setup_py_rejected(offline, job_args, monkeypatch, tmp_path):
    monkeypatch.setattr(scoring, "PROJECT_SETUP_FILE", tmp_path / "missing/setup.py")
    output_dir = tmp_path / "scored"
    output_dir.mkdir()
    earlier = output_dir / "summary.json"
    earlier.write_text("{}")

    with pytest.raises(scoring.JobError, match="--sdk_container_image"):
        scoring.run(job_args + dry.dataflow_args())
    assert earlier.exists()


@pytest.mark.parametrize("runner", [None, "DirectRunner", "FnApiRunner"])
def test_local_runner_gets_no_setup_file(runner):
    args = [] if runner is None else ["--runner", runner]
    options = scoring.pipeline_options(args)

    setup = options.view_as(beam.options.pipeline_options.SetupOptions)
    assert setup.setup_file is None


@pytest.mark.parametrize(
    "name, expected",
    [
        ("DataflowRunner", True),
        ("dataflow", True),
        ("apache_beam.runners.dataflow.dataflow_runner.DataflowRunner", True),
        ("FnApiRunner", False),
        ("DirectRunner", False),
        (None, False),
    ],
)
def test_is_dataflow_runner(name, expected):
    assert scoring.is_dataflow_runner(name) is expected


class UnfinishedResult:
    """A pipeline result whose job never finishes."""

    def wait_until_finish(self, duration=None):
        raise AssertionError("run() waited for the job")


def test_run_without_wait_returns_at_submit(job_args, monkeypatch):
    monkeypatch.setattr(beam.Pipeline, "run", lambda self, *args: UnfinishedResult())

    # --max_psi would make a waiting run read summary.json, which is missing.
    result = scoring.run(job_args + ["--max_psi", "0.1"], wait=False)

    assert isinstance(result, UnfinishedResult)
