"""Entry point of ``wdbc-score``: validate the job, then build and run it.

Usage::

    wdbc-score --input 'shards/*.parquet' --model_dir out/model \\
        --output_dir scored/ [--output_format csv] [Beam options]

Every check that can fail runs on the launcher before the pipeline starts, so
a job that cannot run writes nothing.
"""

import datetime
import json
import logging
import os
import pathlib
import sys
import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
    WorkerOptions,
)

from pipeline import drift, readers, rejections, transforms
from pipeline.graph import build_pipeline
from pipeline.model import ModelError, resolve_export
from pipeline.options import parse_args
from wdbc import statistics, storage

_LOGGER = logging.getLogger(__name__)

# Beam 2.77's DirectRunner first tries the Prism runner, which downloads its
# binary from GitHub. The local default is therefore the in-process FnApiRunner
# that DirectRunner falls back to; --direct_num_workers and
# --direct_running_mode apply to it unchanged.
_LOCAL_RUNNER = "FnApiRunner"
_DIRECT_RUNNER_NAMES = (None, "DirectRunner", "SwitchingDirectRunner")
# Runner names that Beam resolves to its DataflowRunner, compared in lower case
# after any module path.
_DATAFLOW_RUNNER_NAMES = ("dataflow", "dataflowrunner")
# The setuptools shim next to pyproject.toml in a source checkout. Beam 2.77
# builds a pyproject.toml only with the `build` package, but runs
# `python setup.py sdist` without it.
PROJECT_SETUP_FILE = pathlib.Path(__file__).resolve().parent.parent / "setup.py"

# Files of an earlier run that a new run into the same folder replaces.
OUTPUT_PATTERNS = (
    "scored-*",
    "rejected-*",
    "summary.json",
    "_SUCCESS",
    "report.html",
    "report/*.png",
)
# Folders that Beam's file sinks write shards to before renaming them.
TEMP_PREFIX = "beam-temp-"
TEMP_PATTERN = TEMP_PREFIX + "*"


class JobError(ValueError):
    """The job cannot run as configured; nothing has been written."""


def _no_match_hint(pattern: str) -> str:
    """Return what to check when ``pattern`` matches no file."""
    if "://" not in pattern and os.path.islink(pattern):
        return (
            f"it is a symbolic link to {os.readlink(pattern)}, which does not "
            "exist. Fix the link or pass the file it should point to."
        )
    if "://" not in pattern and os.path.isfile(pattern):
        return (
            "the file exists, but its name contains glob characters. Escape "
            "each of them in brackets, for example [[] for [."
        )
    return "check the path and quote the glob so the shell does not expand it."


def match_inputs(patterns: tuple[str, ...]) -> list[str]:
    """Expand the ``--input`` globs, rejecting ones that match no file."""
    files: list[str] = []
    for pattern in patterns:
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except BeamIOError as e:
            bucket_problem = storage.missing_bucket_message(pattern)
            if bucket_problem:
                raise JobError(f"--input {pattern}: {bucket_problem}.") from e
            raise JobError(f"--input {pattern}: cannot list files: {e}") from e
        paths = sorted(m.path for m in matched if not m.path.endswith("/"))
        if not paths:
            raise JobError(
                f"--input {pattern} matches no file; {_no_match_hint(pattern)}"
            )
        for path in paths:
            try:
                readers.file_format(path)
            except ValueError as e:
                raise JobError(f"--input {pattern}: {e}") from e
        files.extend(paths)
    return _unique_files(sorted(set(files)))


def _unique_files(files: list[str]) -> list[str]:
    """Drop local paths that name a file already listed under another path.

    A symlink, a relative path or ``..`` can name one file twice. The first
    path in sorted order is kept, so each file is scored once.
    """
    seen: set[str] = set()
    unique = []
    for path in files:
        key = path if "://" in path else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def check_inputs_readable(files: list[str]) -> None:
    """Open each input and read its first bytes, or its Parquet footer.

    This costs one open per file on the launcher, but a file that cannot be
    opened, is not gzip data behind a ``.gz`` name, or is not Parquet behind a
    ``.parquet`` name then stops the job before it writes anything.
    """
    for path in files:
        try:
            with FileSystems.open(path) as f:
                if readers.file_format(path) == "parquet":
                    pq.ParquetFile(f)
                else:
                    f.read(1)
        except (
            *storage.READ_ERRORS,
            EOFError,
            zlib.error,
            pa.ArrowException,
        ) as e:
            raise JobError(
                f"--input file {path} cannot be read: {e}. Fix or remove the file, "
                "or narrow the --input glob."
            ) from e


def _inside(path: str, folder: str) -> bool:
    """Tell whether ``path`` lies in ``folder`` or below it."""
    if "://" in folder or "://" in path:
        return path.startswith(folder.rstrip("/") + "/")
    folder = os.path.realpath(folder)
    return os.path.realpath(path).startswith(os.path.join(folder, ""))


def check_inputs_outside_output(files: list[str], output_dir: str) -> None:
    """Reject inputs inside ``output_dir``, where a run deletes and writes files.

    A glob that matches the output folder would read an earlier run's
    scored shards as inputs, and the run deletes those before it reads them.
    """
    inside = [path for path in files if _inside(path, output_dir)]
    if inside:
        count = (
            "it is the only input file there"
            if len(inside) == 1
            else (f"{len(inside)} input files are")
        )
        raise JobError(
            f"--input file {inside[0]} is inside --output_dir {output_dir} "
            f"({count}). Write the outputs to a folder "
            "that no --input glob matches."
        )


def _stale_outputs(output_dir: str) -> list[str]:
    """List the outputs and Beam temporary folders that a run replaces."""
    patterns = [FileSystems.join(output_dir, p) for p in OUTPUT_PATTERNS]
    patterns.append(FileSystems.join(output_dir, TEMP_PATTERN, "**"))
    paths = set()
    for result in FileSystems.match(patterns):
        for match in result.metadata_list:
            relative = match.path[len(output_dir) :].lstrip("/")
            top = relative.split("/", 1)[0]
            if top.startswith(TEMP_PREFIX):
                # Delete the temporary folder whole, not only its files. Beam's
                # GCS file system deletes a prefix only when it ends in "/".
                folder = FileSystems.join(output_dir, top)
                paths.add(folder + "/" if storage.is_remote(output_dir) else folder)
            else:
                paths.add(match.path)
    if "://" not in output_dir and os.path.isdir(output_dir):
        # Local listing finds files only, so an empty temporary folder needs
        # its own look-up.
        for entry in os.scandir(output_dir):
            if entry.name.startswith(TEMP_PREFIX):
                paths.add(FileSystems.join(output_dir, entry.name))
    return sorted(paths)


def clear_outputs(output_dir: str, origin: str = "an earlier run") -> None:
    """Delete the scored, rejected and summary files and Beam temporary folders.

    ``origin`` names the run the files come from, for the log line.
    """
    stale = _stale_outputs(output_dir)
    if stale:
        _LOGGER.warning(
            "Deleting %d outputs of %s in %s", len(stale), origin, output_dir
        )
        FileSystems.delete(stale)


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_output_dir(output_dir: str) -> None:
    """Fail early when ``output_dir`` cannot be created or written.

    The check writes nothing. A local folder must be a directory that this
    process may write, or must not exist yet under a writable directory.
    Beam's file sinks match their temporary files by glob, so the path must
    not contain glob characters.
    """
    special = sorted(set(output_dir) & set("*?["))
    if special:
        raise JobError(
            f"--output_dir {output_dir} contains the glob characters "
            f"{' '.join(special)}, which Beam's file sinks cannot write under. "
            "Pass a folder path without them."
        )
    if storage.is_remote(output_dir):
        # NOTE: a remote folder is only checked for being listable, so a
        # bucket without write permission fails when the first shard is written.
        problem = storage.folder_listing_problem(output_dir)
        if problem:
            raise JobError(
                f"--output_dir {output_dir}: {problem}. Pass a folder this job "
                "may create files in."
            )
        return
    existing = _nearest_existing(output_dir)
    if not os.path.isdir(existing):
        problem = f"{existing} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable by this user"
    else:
        return
    raise JobError(
        f"--output_dir {output_dir} cannot be written: {problem}. Pass a folder "
        "this job may create files in."
    )


def is_dataflow_runner(runner) -> bool:
    """Tell whether Beam's ``--runner`` value selects the DataflowRunner."""
    if runner is None:
        return False
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1].lower() in _DATAFLOW_RUNNER_NAMES


def add_worker_dependencies(options: PipelineOptions) -> None:
    """Make a Dataflow job ship this project to its workers.

    Dataflow workers start from Beam's SDK image, which lacks this package
    and its pinned TensorFlow. Unless ``--sdk_container_image``,
    ``--setup_file`` or ``--extra_packages`` already provide them, this adds
    ``--setup_file`` pointing at the checkout's ``setup.py``: Beam then builds
    an sdist on the launcher, and each worker pip-installs it with the pinned
    dependencies when it starts.

    Raises:
      JobError: the runner is Dataflow, nothing ships the package, and this
        installation has no ``setup.py`` (it was not installed from a checkout).
    """
    if not is_dataflow_runner(options.view_as(StandardOptions).runner):
        return
    setup = options.view_as(SetupOptions)
    image = options.view_as(WorkerOptions).sdk_container_image
    if setup.setup_file:
        # Beam changes into the file's folder and fails on a bare "setup.py".
        setup.setup_file = os.path.abspath(setup.setup_file)
    if image or setup.setup_file or setup.extra_packages:
        return
    if not PROJECT_SETUP_FILE.is_file():
        raise JobError(
            "DataflowRunner needs this package on its workers, and this "
            f"installation has no {PROJECT_SETUP_FILE.name} to build it from. "
            "Pass --sdk_container_image with an image that has wdbc-scoring "
            "installed (such as the Flex Template image) or --setup_file "
            "PATH/setup.py of a checkout."
        )
    setup.setup_file = str(PROJECT_SETUP_FILE)
    _LOGGER.info(
        "DataflowRunner without --sdk_container_image or --setup_file: staging "
        "this project with --setup_file %s",
        setup.setup_file,
    )


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Build Beam's options for the job.

    Maps the DirectRunner default to FnApiRunner, and on Dataflow adds the
    staging option that installs this project on the workers.
    """
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner in _DIRECT_RUNNER_NAMES:
        standard.runner = _LOCAL_RUNNER
    add_worker_dependencies(options)
    return options


def run(argv=None, test_pipeline=None, wait: bool = True):
    """Validate the job, run the pipeline and return its result.

    Every check runs before the first write to ``--output_dir``. With
    ``wait`` (the default), this blocks until the pipeline finishes. When it
    fails, its partial outputs and Beam temporary folders are deleted before
    the error is raised again. Without ``wait``, this returns once the runner
    has accepted the job, as a Dataflow Flex Template launcher must. Then a
    failed job leaves its partial outputs and ``--max_psi`` is only enforced
    inside the pipeline, which withholds ``_SUCCESS``.

    Raises:
      JobError: the job cannot run; nothing has been written.
      drift.DriftGateError: ``wait`` and ``--max_psi`` are set and a feature's
        PSI is above it; every output but ``_SUCCESS`` has been written.
      rejections.RejectionGateError: ``wait`` is set and the run read rows but
        scored none, or rejected a share above ``--max_rejected_share``;
        every output but ``_SUCCESS`` has been written.
    """
    config, beam_args = parse_args(argv)
    files = match_inputs(config.input)
    check_inputs_readable(files)
    try:
        version_dir, metadata = resolve_export(config.model_dir)
    except ModelError as e:
        raise JobError(str(e)) from e
    if statistics.METADATA_KEY not in metadata:
        raise JobError(
            f"The export in {version_dir} has no {statistics.METADATA_KEY}, which "
            "drift checks need; re-export the model with this version of wdbc-train."
        )
    check_output_dir(config.output_dir)
    check_inputs_outside_output(files, config.output_dir)
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options(beam_args))
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    clear_outputs(config.output_dir)
    _LOGGER.info(
        "Scoring %d %s with model version %s from %s",
        len(files),
        "file" if len(files) == 1 else "files",
        metadata["model_version"],
        version_dir,
    )
    build_pipeline(pipeline, config, files, version_dir, metadata, started_at)
    if not wait:
        result = pipeline.run()
        _LOGGER.info("Submitted the scoring job; not waiting for it to finish")
        return result
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception:
        _LOGGER.error("Scoring failed; deleting its outputs in %s", config.output_dir)
        clear_outputs(config.output_dir, origin="the failed run")
        raise
    if pipeline.options.view_as(TestOptions).dry_run:
        # A Dataflow dry run translates the job but runs nothing, so there is
        # no summary.json to check.
        return result
    # The rejection gate goes first. When no row was scored the drift gate
    # fails too, but only the rejection reasons explain why.
    summary_path = FileSystems.join(config.output_dir, transforms.SUMMARY_NAME)
    with FileSystems.open(summary_path) as f:
        rejections.check_gate(json.loads(f.read().decode("utf-8")))
    drift.check_gate(config.output_dir, config.max_psi)
    return result


def main(argv=None) -> int:
    """Run the job from the command line and return the exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run(argv)
    except JobError as e:
        print(f"wdbc-score: error: {e}", file=sys.stderr)
        return 2
    except drift.DriftGateError as e:
        print(f"wdbc-score: error: {e}", file=sys.stderr)
        return 3
    except rejections.RejectionGateError as e:
        print(f"wdbc-score: error: {e}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
