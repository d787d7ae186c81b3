"""Tests of the Dataflow Flex Template files in deploy/flex_template/.

The image cannot be built here (no Docker), so the Dockerfile is checked as
text: the Beam version and Python version it builds on, and the paths it
copies. The metadata is checked against the job flags in both directions, and
the launcher entry point runs a Dataflow dry run.
"""

import importlib.metadata
import importlib.util
import json
import re
import sys
import tempfile

import apache_beam as beam
import pytest

from pipeline import options, readers
from tests import dataflow_dry_run as dry
from tests.conftest import BUNDLED_DATA, REPO_ROOT

TEMPLATE_DIR = REPO_ROOT / "deploy" / "flex_template"
FLAGS_BY_NAME = {flag.name: flag for flag in options.FLAGS}


def load_module(name: str):
    """Import a script from deploy/flex_template/, which is not a package."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def metadata() -> dict:
    return json.loads((TEMPLATE_DIR / "metadata.json").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (TEMPLATE_DIR / "Dockerfile").read_text()


def pinned_version(package: str) -> str:
    """Return the version that pyproject.toml pins ``package`` to."""
    for requirement in importlib.metadata.requires("wdbc-scoring"):
        match = re.fullmatch(rf"{package}(\[[^]]*\])?==(\S+)", requirement)
        if match:
            return match.group(2)
    raise AssertionError(f"{package} is not pinned with == in pyproject.toml")


def test_metadata_file_matches_generator(metadata):
    write_metadata = load_module("write_metadata")

    committed = (TEMPLATE_DIR / "metadata.json").read_text()
    assert committed == write_metadata.render_metadata(), (
        "metadata.json is stale: run python deploy/flex_template/write_metadata.py"
    )


def test_every_flag_is_parameter(metadata):
    names = [parameter["name"] for parameter in metadata["parameters"]]

    assert names == [flag.name for flag in options.FLAGS]


def test_every_parameter_is_flag(metadata):
    for parameter in metadata["parameters"]:
        assert parameter["name"] in FLAGS_BY_NAME, parameter["name"]


@pytest.mark.parametrize("flag", options.FLAGS, ids=lambda flag: flag.name)
def test_parameter_mirrors_flag(metadata, flag):
    (parameter,) = [p for p in metadata["parameters"] if p["name"] == flag.name]

    assert parameter["helpText"] == flag.help
    assert parameter["label"] == flag.label
    assert parameter["isOptional"] is (not flag.required)
    assert flag.regex is not None
    assert parameter["regexes"] == [flag.regex]


@pytest.mark.parametrize(
    "name, value, accepted",
    [
        ("input", "gs://wdbc-in/dt=2026-01-02/*", True),
        ("input", "gs://wdbc-in/shards/*.parquet", True),
        ("input", "gs://wdbc-in/shards/part-0.csv.gz", True),
        ("input", "gs://wdbc-in/shards/", False),
        ("input", "gs://wdbc-in/shards/part-0.json", False),
        ("model_dir", "gs://wdbc-models/model", True),
        ("model_dir", "", False),
        ("output_dir", "gs://wdbc-out/scored/dt=2026-01-02", True),
        ("output_format", "csv", True),
        ("output_format", "jsonl", True),
        ("output_format", "xml", False),
        ("batch_size", "8192", True),
        ("batch_size", "0", False),
        ("batch_size", "-1", False),
        ("batch_size", "1.5", False),
        ("max_psi", "0.25", True),
        ("max_psi", ".5", True),
        ("max_psi", "3", True),
        ("max_psi", "-0.1", False),
        ("max_psi", "high", False),
        ("max_rejected_share", "0.05", True),
        ("max_rejected_share", "1", True),
        ("max_rejected_share", ".5", True),
        ("max_rejected_share", "1.5", False),
        ("max_rejected_share", "-0.1", False),
        ("min_drift_rows", "1000", True),
        ("min_drift_rows", "0", True),
        ("min_drift_rows", "-1", False),
        ("min_drift_rows", "1e3", False),
    ],
)
def test_parameter_regex(name, value, accepted):
    regex = FLAGS_BY_NAME[name].regex

    assert (re.fullmatch(regex, value) is not None) is accepted


@pytest.mark.parametrize("suffix", readers.CSV_SUFFIXES + readers.PARQUET_SUFFIXES)
def test_input_regex_accepts_suffix(suffix):
    regex = FLAGS_BY_NAME["input"].regex

    assert re.fullmatch(regex, f"gs://wdbc-in/shards/part-0{suffix}")
    assert re.fullmatch(regex, f"gs://wdbc-in/shards/*{suffix}")


@pytest.mark.parametrize(
    "flag", [f for f in options.FLAGS if f.default is not None], ids=str
)
def test_flag_default_matches_regex(flag):
    assert re.fullmatch(flag.regex, str(flag.default))


@pytest.mark.parametrize(
    "flag",
    [f for f in options.FLAGS if f.default is not None],
    ids=lambda flag: flag.name,
)
def test_flag_help_states_default(flag):
    help_text = " ".join(options.build_parser().format_help().split())

    assert flag.help.endswith(f"(default: {flag.default}).")
    assert f"(default: {flag.default})" in help_text


def test_regex_accepted_values_parse():
    argv = [
        "--input=gs://wdbc-in/dt=2026-01-02/*",
        "--model_dir=gs://wdbc-models/model",
        "--output_dir=gs://wdbc-out/scored/dt=2026-01-02",
        "--output_format=jsonl",
        "--batch_size=512",
        "--max_psi=.5",
    ]
    for arg in argv:
        name, value = arg[2:].split("=", 1)
        assert re.fullmatch(FLAGS_BY_NAME[name].regex, value), arg

    config, beam_args = options.parse_args(argv)

    assert config.batch_size == 512
    assert config.max_psi == 0.5
    assert beam_args == []


def test_dockerfile_uses_pinned_beam(dockerfile):
    match = re.search(
        r"^FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)\s*$", dockerfile, re.M
    )
    assert match, "no FROM apache/beam_pythonX.Y_sdk:VERSION line"
    python, version = match.groups()

    assert version == pinned_version("apache-beam")
    assert version == beam.__version__
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_dockerfile_launcher_python_matches(dockerfile):
    sdk = re.search(r"beam_python(\d+)\.(\d+)_sdk", dockerfile).groups()
    launcher = re.search(r"python(\d)(\d+)-template-launcher-base", dockerfile)

    assert launcher, "no python3XX-template-launcher-base image"
    assert launcher.groups() == sdk
    assert re.search(
        r"^COPY --from=template_launcher /opt/google/dataflow/python_template_launcher",
        dockerfile,
        re.M,
    )


def test_dockerfile_copies_existing_paths(dockerfile):
    text = dockerfile.replace("\\\n", " ")
    copies = re.findall(r"^COPY (?!--from)(.+)$", text, re.M)
    assert copies

    for line in copies:
        *sources, _ = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source


def test_dockerfile_runs_copied_main(dockerfile):
    workdir = re.search(r"^ARG WORKDIR=(\S+)$", dockerfile, re.M).group(1)
    py_file = re.search(
        r'^ENV FLEX_TEMPLATE_PYTHON_PY_FILE="\$\{WORKDIR\}/(\S+)"$', dockerfile, re.M
    )

    assert workdir == "/template"
    assert py_file, "FLEX_TEMPLATE_PYTHON_PY_FILE is not under ${WORKDIR}"
    assert re.search(
        rf"^COPY deploy/flex_template/main.py {re.escape(py_file.group(1))}$",
        dockerfile,
        re.M,
    )
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--input=a.csv"], ["--input=a.csv", "--runner", "DataflowRunner"]),
        (["--runner=FnApiRunner"], ["--runner=FnApiRunner"]),
        (["--runner", "DataflowRunner"], ["--runner", "DataflowRunner"]),
    ],
)
def test_launcher_defaults_to_dataflow(argv, expected):
    main = load_module("main")

    assert main.with_dataflow_runner(argv) == expected


def test_launcher_dry_run_submits(tmp_path, model_dir, monkeypatch):
    blocked = dry.block_network(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shard = tmp_path / "shard.csv"
    shard.write_text("".join(BUNDLED_DATA.read_text().splitlines(True)[:5]))
    main = load_module("main")
    beam_args = dry.dataflow_args("--sdk_container_image", "wdbc-scoring:test")
    beam_args.remove("--runner")
    beam_args.remove("DataflowRunner")

    status = main.main(
        [
            f"--input={shard}",
            f"--model_dir={model_dir}",
            f"--output_dir={tmp_path / 'scored'}",
            *beam_args,
        ]
    )

    assert status == 0
    assert blocked == []


def test_launcher_reports_job_error(tmp_path, model_dir, caplog):
    main = load_module("main")

    status = main.main(
        [
            f"--input={tmp_path / 'missing' / '*.csv'}",
            f"--model_dir={model_dir}",
            f"--output_dir={tmp_path / 'scored'}",
        ]
    )

    assert status == 2
    assert any("matches no file" in r.getMessage() for r in caplog.records)
