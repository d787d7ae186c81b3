"""Jobs that cannot run fail before writing, with one message naming the fix."""

import gzip
import importlib.metadata
import json
import logging
import shutil
import subprocess
import sys

import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline import run as scoring
from pipeline.options import OUTPUT_FORMATS, parse_args
from tests.conftest import BUNDLED_DATA


def _snapshot(folder):
    """Map each path under ``folder`` to its bytes, or None if it is missing."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def good_input(tmp_path):
    folder = tmp_path / "input"
    folder.mkdir()
    shutil.copy(BUNDLED_DATA, folder / "wdbc.data")
    return folder / "wdbc.data"


@pytest.fixture(params=["absent", "earlier_run"])
def output_dir(request, tmp_path):
    """An output folder that does not exist, or contains an earlier run's files."""
    folder = tmp_path / "output"
    if request.param == "earlier_run":
        folder.mkdir()
        (folder / "scored-00000-of-00001.parquet").write_bytes(b"earlier")
        (folder / "_SUCCESS").write_bytes(b"")
    return folder


def _main(argv, capsys):
    status = scoring.main(argv)
    return status, capsys.readouterr().err


def _argv(inputs, model_dir, output_dir, *extra):
    return [
        "--input",
        str(inputs),
        "--model_dir",
        str(model_dir),
        "--output_dir",
        str(output_dir),
        *extra,
    ]


def test_glob_without_match(tmp_path, model_dir, output_dir, capsys):
    pattern = tmp_path / "nothing" / "*.csv"
    before = _snapshot(output_dir)
    status, err = _main(_argv(pattern, model_dir, output_dir), capsys)
    assert status == 2
    assert f"--input {pattern} matches no file" in err
    assert "quote the glob" in err
    assert _snapshot(output_dir) == before


def test_model_dir_missing(tmp_path, good_input, output_dir, capsys):
    missing = tmp_path / "no-model"
    before = _snapshot(output_dir)
    status, err = _main(_argv(good_input, missing, output_dir), capsys)
    assert status == 2
    assert f"--model_dir {missing} holds no WDBC export" in err
    assert "wdbc-train" in err
    assert _snapshot(output_dir) == before


def _folder_of_junk(root, version_dir):
    folder = root / "junk"
    folder.mkdir()
    (folder / "README.txt").write_text("not a model\n")
    return folder, "holds no WDBC export"


def _saved_model_without_metadata(root, version_dir):
    folder = root / "bare" / "1"
    shutil.copytree(version_dir, folder)
    shutil.rmtree(folder / "assets.extra")
    return folder.parent, "holds no WDBC export"


def _metadata_without_saved_model(root, version_dir):
    folder = root / "metadata-only" / "1"
    shutil.copytree(version_dir / "assets.extra", folder / "assets.extra")
    return folder.parent, "saved_model.pb is missing"


def _metadata_not_json(root, version_dir):
    folder = root / "broken" / "1"
    shutil.copytree(version_dir, folder)
    (folder / "assets.extra" / "wdbc_model.json").write_text("{not json")
    return folder.parent, "cannot be read as JSON"


@pytest.mark.parametrize(
    "make_model",
    [
        _folder_of_junk,
        _saved_model_without_metadata,
        _metadata_without_saved_model,
        _metadata_not_json,
    ],
)
def test_model_dir_not_export(
    tmp_path, version_dir, good_input, output_dir, make_model, capsys
):
    model, message = make_model(tmp_path, version_dir)
    before = _snapshot(output_dir)
    status, err = _main(_argv(good_input, model, output_dir), capsys)
    assert status == 2
    assert str(model) in err
    assert message in err
    assert "wdbc-train" in err
    assert _snapshot(output_dir) == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("plain_text.csv.gz", b"id,diagnosis\n1,M\n"),
        ("plain_text.parquet", b"id,diagnosis\n1,M\n"),
        ("truncated.parquet", b"PAR1" + b"\0" * 16),
    ],
)
def test_input_unreadable(tmp_path, model_dir, output_dir, name, content, capsys):
    folder = tmp_path / "input"
    folder.mkdir()
    path = folder / name
    path.write_bytes(content)
    before = _snapshot(output_dir)
    status, err = _main(_argv(path, model_dir, output_dir), capsys)
    assert status == 2
    assert f"--input file {path} cannot be read" in err
    assert "Fix or remove the file" in err
    assert _snapshot(output_dir) == before


def test_output_dir_under_file(tmp_path, good_input, model_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    output = blocker / "output"
    status, err = _main(_argv(good_input, model_dir, output), capsys)
    assert status == 2
    assert f"--output_dir {output} cannot be written" in err
    assert f"{blocker} is not a directory" in err
    assert blocker.read_text() == "in the way\n"


def test_output_dir_is_file(tmp_path, good_input, model_dir, capsys):
    output = tmp_path / "output"
    output.write_text("in the way\n")
    status, err = _main(_argv(good_input, model_dir, output), capsys)
    assert status == 2
    assert f"{output} is not a directory" in err
    assert output.read_text() == "in the way\n"


def test_output_format_unknown(good_input, model_dir, output_dir, capsys):
    before = _snapshot(output_dir)
    argv = _argv(good_input, model_dir, output_dir, "--output_format", "xml")
    with pytest.raises(SystemExit) as exit_info:
        scoring.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "--output_format" in err
    assert "'xml'" in err
    assert "choose from" in err
    choices = err.split("choose from", 1)[1]
    for choice in OUTPUT_FORMATS:
        assert choice in choices, choice
    assert _snapshot(output_dir) == before


def test_failed_run_leaves_no_outputs(tmp_path, version_dir):
    # The export's metadata is valid, so the launch checks pass, but its
    # variables are empty and the pipeline fails when it loads the model.
    model = tmp_path / "model" / "1"
    shutil.copytree(version_dir, model)
    for data in (model / "variables").glob("variables.data-*"):
        data.write_bytes(b"")
    folder = tmp_path / "input"
    folder.mkdir()
    shutil.copy(BUNDLED_DATA, folder / "wdbc.data")
    output = tmp_path / "output"
    output.mkdir()
    (output / "scored-00000-of-00003.jsonl").write_text("earlier\n")
    (output / "beam-temp-scored-earlier").mkdir()
    argv = _argv(folder / "*", model.parent, output, "--output_format", "jsonl")
    with pytest.raises(Exception, match="bytes|variables|restore|read"):
        scoring.run(argv, test_pipeline=BeamTestPipeline(runner="FnApiRunner"))
    assert sorted(p.name for p in output.iterdir()) == []


def test_truncated_gzip_keeps_other_shards(tmp_path, model_dir, caplog):
    folder = tmp_path / "input"
    folder.mkdir()
    text = BUNDLED_DATA.read_bytes() * 4
    compressed = gzip.compress(text)
    truncated = folder / "truncated.csv.gz"
    truncated.write_bytes(compressed[: len(compressed) // 2])
    shutil.copy(BUNDLED_DATA, folder / "wdbc.data")
    output = tmp_path / "output"
    argv = _argv(folder / "*", model_dir, output, "--output_format", "csv")
    with caplog.at_level(logging.WARNING, logger="pipeline.readers"):
        scoring.run(argv, test_pipeline=BeamTestPipeline(runner="FnApiRunner"))

    warnings = [r.getMessage() for r in caplog.records if r.name == "pipeline.readers"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{truncated}: file cannot be read after row")

    summary = json.loads((output / "summary.json").read_text())
    whole = summary["files"][str(folder / "wdbc.data")]
    assert whole["rows_scored"] == 569
    assert whole["rows_rejected"] == 0
    cut = summary["files"][str(truncated)]
    assert cut["rows_rejected"] == 1
    assert cut["rows_scored"] > 0
    assert cut["rows_read"] == cut["rows_scored"] + cut["rows_rejected"]
    records = [
        json.loads(line)
        for path in output.glob("rejected-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(records) == 1
    assert records[0]["source"] == str(truncated)
    assert records[0]["row"] == cut["rows_scored"] + 1
    assert "may be truncated or corrupt" in records[0]["reason"]
    assert (output / "_SUCCESS").exists()


@pytest.mark.parametrize("layout", ["same_folder", "subfolder"])
def test_input_inside_output_dir(tmp_path, model_dir, layout, capsys):
    output = tmp_path / "io"
    output.mkdir()
    folder = output if layout == "same_folder" else output / "shards"
    folder.mkdir(exist_ok=True)
    shutil.copy(BUNDLED_DATA, folder / "a.csv")
    (output / "scored-00000-of-00001.csv").write_text("id\n1\n")
    before = _snapshot(output)
    status, err = _main(_argv(folder / "*.csv", model_dir, output), capsys)
    assert status == 2
    assert f"--input file {folder / 'a.csv'} is inside --output_dir {output}" in err
    assert "Write the outputs to a folder that no --input glob matches" in err
    # In the same folder, the glob also matches the earlier scored file.
    if layout == "same_folder":
        assert "(2 input files are)" in err
    else:
        assert "(it is the only input file there)" in err
    assert _snapshot(output) == before


@pytest.mark.parametrize(
    ("extra", "flag", "suggestion"),
    [
        (["--max-psi", "0"], "--max-psi", "--max_psi"),
        (["--output-format", "csv"], "--output-format", "--output_format"),
        (["--outputformat=xml"], "--outputformat=xml", "--output_format"),
        (["--model-dir", "elsewhere"], "--model-dir", "--model_dir"),
        (["--direct-num-workers", "2"], "--direct-num-workers", "--direct_num_workers"),
    ],
)
def test_misspelled_flag(
    good_input, model_dir, output_dir, extra, flag, suggestion, capsys
):
    before = _snapshot(output_dir)
    argv = _argv(good_input, model_dir, output_dir, *extra)
    with pytest.raises(SystemExit) as exit_info:
        scoring.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"unknown argument {flag}" in err
    assert f"Did you mean {suggestion}?" in err
    assert _snapshot(output_dir) == before


def test_unknown_flag_without_suggestion(good_input, model_dir, output_dir, capsys):
    argv = _argv(good_input, model_dir, output_dir, "--frobnicate")
    with pytest.raises(SystemExit) as exit_info:
        scoring.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "unknown argument --frobnicate" in err
    assert "neither a wdbc-score flag nor a Beam pipeline option" in err
    assert "Did you mean" not in err


def test_beam_flags_pass_through():
    argv = [
        "--input=a.csv",
        "--model_dir=m",
        "--output_dir=o",
        "--runner",
        "FnApiRunner",
        "--direct_num_workers",
        "2",
        "--direct_running_mode=multi_processing",
        "--experiments=use_runner_v2",
        "--project",
        "wdbc-test",
        "--temp_location",
        "gs://bucket/tmp",
    ]
    config, beam_args = parse_args(argv)
    assert config.input == ("a.csv",)
    assert beam_args == argv[3:]


def test_input_dangling_symlink(tmp_path, model_dir, output_dir, capsys):
    link = tmp_path / "broken.csv"
    link.symlink_to(tmp_path / "gone.csv")
    status, err = _main(_argv(link, model_dir, output_dir), capsys)
    assert status == 2
    assert f"--input {link} matches no file" in err
    assert f"symbolic link to {tmp_path / 'gone.csv'}, which does not exist" in err


def test_input_name_with_glob_characters(tmp_path, model_dir, output_dir, capsys):
    path = tmp_path / "glob[1].csv"
    shutil.copy(BUNDLED_DATA, path)
    status, err = _main(_argv(path, model_dir, output_dir), capsys)
    assert status == 2
    assert f"--input {path} matches no file" in err
    assert "[[] for [" in err


@pytest.mark.parametrize("name", ["ob[1]", "out*", "what?"])
def test_output_dir_with_glob_characters(tmp_path, good_input, model_dir, name, capsys):
    output = tmp_path / name
    status, err = _main(_argv(good_input, model_dir, output), capsys)
    assert status == 2
    assert f"--output_dir {output} contains the glob characters" in err
    assert "Pass a folder path without them" in err
    assert not output.exists()


def test_entry_points_run_job_checks(tmp_path, model_dir):
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert scripts["wdbc-score"].value == "pipeline.cli:main"

    missing = tmp_path / "absent" / "*.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", *_argv(missing, model_dir, tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 2
    assert f"wdbc-score: error: --input {missing}" in completed.stderr


_REPEATED_MAIN = """
import gc, json, sys
from pipeline import cli
argv = sys.argv[1:]
counts = []
for _ in range(2):
    status = cli.main(argv)
    counts.append({"status": status, "frozen": gc.get_freeze_count()})
print(json.dumps(counts))
"""


def test_cli_main_freezes_once_per_process(tmp_path, model_dir):
    # The cyclic collector skips frozen objects, so a call that freezes again
    # keeps the unreachable cycles of the calls before it for good.
    missing = tmp_path / "absent" / "*.csv"
    completed = subprocess.run(
        [sys.executable, "-c", _REPEATED_MAIN, *_argv(missing, model_dir, tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    first, second = json.loads(completed.stdout.strip().splitlines()[-1])

    assert first["status"] == 2
    assert second["status"] == 2
    assert second["frozen"] <= first["frozen"]
