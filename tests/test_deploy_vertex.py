"""Tests of the Vertex AI training job in deploy/vertex/.

The job cannot be submitted here. The spec is parsed after filling its
placeholders, and its arguments go through wdbc-train's own parser; the
Dockerfile is checked as text.
"""

import importlib.metadata
import re
import string

import pytest
import yaml

from tests.conftest import REPO_ROOT
from train import cli

VERTEX_DIR = REPO_ROOT / "deploy" / "vertex"
PLACEHOLDERS = {
    "TRAIN_IMAGE": "us-central1-docker.pkg.dev/wdbc-test/wdbc/wdbc-train:1",
    "TRAINING_OUTPUT_DIR": "gs://wdbc-models/training",
}


@pytest.fixture(scope="module")
def job_spec() -> dict:
    template = string.Template((VERTEX_DIR / "training_job.yaml").read_text())
    return yaml.safe_load(template.substitute(PLACEHOLDERS))


@pytest.fixture(scope="module")
def worker_pool(job_spec) -> dict:
    (pool,) = job_spec["workerPoolSpecs"]
    return pool


def test_job_uses_multiple_gpus(worker_pool):
    machine = worker_pool["machineSpec"]

    assert machine["machineType"] == "n1-standard-8"
    assert machine["acceleratorType"] == "NVIDIA_TESLA_T4"
    assert machine["acceleratorCount"] >= 2
    assert worker_pool["replicaCount"] == 1


def test_job_runs_wdbc_train(worker_pool):
    container = worker_pool["containerSpec"]
    scripts = {
        entry_point.name
        for entry_point in importlib.metadata.entry_points(group="console_scripts")
        if entry_point.value == "train.cli:main"
    }

    assert container["imageUri"] == PLACEHOLDERS["TRAIN_IMAGE"]
    assert container["command"] == ["wdbc-train"]
    assert "wdbc-train" in scripts


def test_job_args_parse(worker_pool):
    args = cli.build_parser().parse_args(worker_pool["containerSpec"]["args"])

    assert args.output_dir == PLACEHOLDERS["TRAINING_OUTPUT_DIR"]
    assert args.output_dir.startswith("gs://")
    # The global batch splits evenly across the GPUs.
    gpus = worker_pool["machineSpec"]["acceleratorCount"]
    assert args.batch_size % gpus == 0


def test_job_placeholders_all_filled():
    text = (VERTEX_DIR / "training_job.yaml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))

    assert set(re.findall(r"\$\{(\w+)\}", body)) == set(PLACEHOLDERS)


def test_dockerfile_pins_tensorflow():
    dockerfile = (VERTEX_DIR / "Dockerfile").read_text()
    pinned = [
        r
        for r in importlib.metadata.requires("wdbc-scoring")
        if r.startswith("tensorflow==")
    ]

    assert len(pinned) == 1
    version = pinned[0].split("==")[1]
    assert f'"tensorflow[and-cuda]=={version}"' in dockerfile
    assert 'ENTRYPOINT ["wdbc-train"]' in dockerfile


def test_dockerfile_copies_existing_paths():
    dockerfile = (VERTEX_DIR / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (.+)$", dockerfile, re.M)
    assert copies

    for line in copies:
        *sources, _ = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
    assert any(line.startswith("data ") for line in copies)
