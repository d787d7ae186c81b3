"""Entry point of ``wdbc-score``: validate the job, then build and run it.

Usage::

    wdbc-score --input 'shards/*.parquet' --model_dir out/model \\
        --output_dir scored/ [--output_format csv] [Beam options]

Every check that can fail runs on the launcher before the pipeline starts, so
a job that cannot run writes nothing.
"""

import logging
import sys

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import drift, readers
from pipeline.graph import build_pipeline
from pipeline.model import ModelError, resolve_export
from pipeline.options import parse_args
from wdbc import statistics

_LOGGER = logging.getLogger(__name__)

# Beam 2.77's DirectRunner first tries the Prism runner, which downloads its
# binary from GitHub. The local default is therefore the in-process FnApiRunner
# that DirectRunner falls back to; --direct_num_workers and
# --direct_running_mode apply to it unchanged.
_LOCAL_RUNNER = "FnApiRunner"
_DIRECT_RUNNER_NAMES = (None, "DirectRunner", "SwitchingDirectRunner")

# Files of an earlier run that a new run into the same folder replaces.
OUTPUT_PATTERNS = (
    "scored-*",
    "rejected-*",
    "summary.json",
    "_SUCCESS",
    "report.html",
    "report/*.png",
)


class JobError(ValueError):
    """The job cannot run as configured; nothing has been written."""


def match_inputs(patterns: tuple[str, ...]) -> list[str]:
    """Expand the ``--input`` globs, rejecting ones that match no file."""
    files: list[str] = []
    for pattern in patterns:
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except BeamIOError as e:
            raise JobError(f"--input {pattern}: cannot list files: {e}") from e
        paths = sorted(m.path for m in matched if not m.path.endswith("/"))
        if not paths:
            raise JobError(
                f"--input {pattern} matches no file; check the path and quote "
                "the glob so the shell does not expand it."
            )
        for path in paths:
            try:
                readers.file_format(path)
            except ValueError as e:
                raise JobError(f"--input {pattern}: {e}") from e
        files.extend(paths)
    return sorted(set(files))


def clear_outputs(output_dir: str) -> None:
    """Delete the outputs of an earlier run in ``output_dir``."""
    patterns = [FileSystems.join(output_dir, p) for p in OUTPUT_PATTERNS]
    stale = [
        m.path for result in FileSystems.match(patterns) for m in result.metadata_list
    ]
    if stale:
        _LOGGER.warning(
            "Deleting %d outputs of an earlier run in %s", len(stale), output_dir
        )
        FileSystems.delete(stale)


def check_output_dir(output_dir: str) -> None:
    """Fail early when ``output_dir`` cannot be written."""
    probe = FileSystems.join(output_dir, ".wdbc-write-check")
    try:
        if "://" not in output_dir and not FileSystems.exists(output_dir):
            FileSystems.mkdirs(output_dir)
        with FileSystems.create(probe) as f:
            f.write(b"")
        FileSystems.delete([probe])
    except (BeamIOError, OSError) as e:
        raise JobError(
            f"--output_dir {output_dir} is not writable: {e}. Pass a folder "
            "this job may create files in."
        ) from e


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Build Beam's options, mapping the DirectRunner default to FnApiRunner."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner in _DIRECT_RUNNER_NAMES:
        standard.runner = _LOCAL_RUNNER
    return options


def run(argv=None, test_pipeline=None):
    """Validate the job, run the pipeline and return its result.

    Raises:
      JobError: the job cannot run; nothing has been written.
      drift.DriftGateError: ``--max_psi`` is set and a feature's PSI is above
        it; every output but ``_SUCCESS`` has been written.
    """
    config, beam_args = parse_args(argv)
    files = match_inputs(config.input)
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
    clear_outputs(config.output_dir)
    _LOGGER.info(
        "Scoring %d files with model version %s from %s",
        len(files),
        metadata["model_version"],
        version_dir,
    )
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options(beam_args))
    build_pipeline(pipeline, config, files, version_dir)
    result = pipeline.run()
    result.wait_until_finish()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
