"""The scoring job's own flags, declared once.

``run.py`` parses them with ``parse_known_args`` and hands the rest to Beam's
``PipelineOptions``, after rejecting any argument that Beam does not know
either. The Dataflow Flex Template metadata,
``deploy/flex_template/metadata.json``, is generated from the same
declarations by ``template_metadata``.
"""

import argparse
import dataclasses
import difflib

from apache_beam.options.pipeline_options import PipelineOptions

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")
DEFAULT_OUTPUT_FORMAT = "parquet"
# Rows per call of the exported signature.
DEFAULT_BATCH_SIZE = 8192
# Scored rows below which drift is reported but not judged. On unchanged data
# the PSI over B bins of n scored rows against N training rows averages about
# (B - 1) * (1/n + 1/N) (pipeline.drift.psi_sampling_bias). With 10 bins, the
# 427 training rows of the bundled split and n = 1000 that is 0.03, well below
# the 0.1 line between stable and moderate. At n = 7 it is 1.3.
DEFAULT_MIN_DRIFT_ROWS = 1000


@dataclasses.dataclass(frozen=True)
class Flag:
    """One job flag: its argparse settings, and a label and pattern for templates.

    ``regex`` is the pattern that Dataflow checks a template parameter against
    before it launches the job. ``help`` ends with "(default: ...)" when the
    flag has a default, because the template metadata shows the same text.
    """

    name: str
    label: str
    help: str
    required: bool = False
    default: object = None
    type: type = str
    choices: tuple | None = None
    repeatable: bool = False
    regex: str | None = None


FLAGS = (
    Flag(
        "input",
        "Input shards",
        "Glob of CSV or Parquet shards to score (local path or gs://). "
        "Repeat the flag to read several globs.",
        required=True,
        repeatable=True,
        # A shard suffix of pipeline/readers.py in lower case, or a glob
        # ending in "*". The file-format check runs again at launch.
        regex=r"^.+(\.(csv|csv\.gz|data|data\.gz|txt|txt\.gz|parquet|pq)|\*)$",
    ),
    Flag(
        "model_dir",
        "Model export folder",
        "Export written by wdbc-train: a version folder, or its base folder, "
        "in which case the highest numbered version is used.",
        required=True,
        regex=r"^.+$",
    ),
    Flag(
        "output_dir",
        "Output folder",
        "Folder that receives the scored shards; earlier outputs in it are replaced.",
        required=True,
        regex=r"^.+$",
    ),
    Flag(
        "output_format",
        "Output format",
        f"File format of the scored shards (default: {DEFAULT_OUTPUT_FORMAT}).",
        default=DEFAULT_OUTPUT_FORMAT,
        choices=OUTPUT_FORMATS,
        regex=r"^(parquet|csv|jsonl)$",
    ),
    Flag(
        "batch_size",
        "Rows per model call",
        "Rows per call of the model's serving function "
        f"(default: {DEFAULT_BATCH_SIZE}).",
        default=DEFAULT_BATCH_SIZE,
        type=int,
        regex=r"^[1-9][0-9]*$",
    ),
    Flag(
        "max_psi",
        "Maximum feature PSI",
        "Fail the run when any feature's population stability index against "
        "the training data is above this value (unitless, e.g. 0.25): the "
        "outputs and summary.json are still written, _SUCCESS is not, and "
        "wdbc-score exits with status 3. Without it, drift is only reported.",
        type=float,
        regex=r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$",
    ),
    Flag(
        "max_rejected_share",
        "Maximum share of rejected rows",
        "Fail the run when the share of rejected rows among the rows read is "
        "above this value (0 to 1, e.g. 0.05): the outputs and summary.json are "
        "still written, _SUCCESS is not, and wdbc-score exits with status 4. "
        "Without it, a run fails only when it read rows and scored none.",
        type=float,
        regex=r"^(0(\.[0-9]*)?|1(\.0*)?|\.[0-9]+)$",
    ),
    Flag(
        "min_drift_rows",
        "Minimum rows to judge drift",
        "Scored rows below which drift is reported but not judged: every level "
        "is insufficient_rows and --max_psi does not fail the run. On unchanged "
        "data the PSI over 10 bins is about 9 * (1/rows + 1/training rows), so "
        "small samples read as drift. 0 judges every run "
        f"(default: {DEFAULT_MIN_DRIFT_ROWS}).",
        default=DEFAULT_MIN_DRIFT_ROWS,
        type=int,
        regex=r"^[0-9]+$",
    ),
)


@dataclasses.dataclass(frozen=True)
class ScoringConfig:
    """The parsed job flags."""

    input: tuple[str, ...]
    model_dir: str
    output_dir: str
    output_format: str
    batch_size: int
    max_psi: float | None = None
    max_rejected_share: float | None = None
    min_drift_rows: int = DEFAULT_MIN_DRIFT_ROWS


TEMPLATE_NAME = "wdbc-score"
TEMPLATE_DESCRIPTION = (
    "Score CSV or Parquet shards of WDBC measurements with a model exported by "
    "wdbc-train, and write the scored rows, the rejected rows, summary.json "
    "with drift figures, and report.html. The template takes one input glob. "
    "The launcher does not wait for the job, so a max_psi or max_rejected_share "
    "breach, or a run that scores no row, shows only as a missing _SUCCESS file "
    "in the output folder."
)


def template_metadata() -> dict:
    """Build the Dataflow Flex Template metadata from ``FLAGS``.

    Each flag becomes one parameter with the same name, help text and
    pattern; a flag without ``regex`` gets no pattern. A parameter is optional
    when its flag is. A template parameter carries one value, so a repeatable
    flag such as ``--input`` takes a single glob there.
    """
    parameters = []
    for flag in FLAGS:
        parameter = {
            "name": flag.name,
            "label": flag.label,
            "helpText": flag.help,
            "isOptional": not flag.required,
        }
        if flag.regex:
            parameter["regexes"] = [flag.regex]
        parameters.append(parameter)
    return {
        "name": TEMPLATE_NAME,
        "description": TEMPLATE_DESCRIPTION,
        "parameters": parameters,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wdbc-score",
        description=(
            "Score WDBC shards with an exported model on Apache Beam. "
            "Arguments not listed here, such as --runner, go to Beam."
        ),
    )
    for flag in FLAGS:
        kwargs = {"help": flag.help, "type": flag.type}
        if flag.repeatable:
            kwargs["action"] = "append"
        else:
            kwargs["default"] = flag.default
        if flag.choices:
            kwargs["choices"] = flag.choices
        parser.add_argument(f"--{flag.name}", required=flag.required, **kwargs)
    return parser


def _beam_unknown_args(beam_args: list[str]) -> tuple[list[str], list[str]]:
    """Return the arguments no Beam options class accepts, and Beam's flags.

    Beam 2.77 only logs a warning for such arguments and drops them, so a
    misspelled job flag would be ignored. The parser is the one Beam's
    ``get_all_options`` builds from every registered options class, which it
    passes to ``add_extra_args_fn``.
    """
    parsers = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    beam_parser = parsers[0]
    _, unknown = beam_parser.parse_known_args(beam_args)
    flags = [
        option
        for action in beam_parser._actions
        for option in action.option_strings
        if option.startswith("--")
    ]
    return unknown, flags


def _suggestion(argument: str, beam_flags: list[str]) -> str:
    """Return " Did you mean --x?" for the closest known flag, or ""."""
    name = argument.split("=", 1)[0].lstrip("-").replace("-", "_").lower()
    job_flags = [f"--{flag.name}" for flag in FLAGS]
    for candidates in (job_flags, beam_flags):
        close = difflib.get_close_matches(f"--{name}", candidates, n=1, cutoff=0.75)
        if close:
            return f" Did you mean {close[0]}?"
    return ""


def _check_beam_args(parser: argparse.ArgumentParser, beam_args: list[str]) -> None:
    """Exit with an error naming the first argument that neither parser accepts."""
    unknown, beam_flags = _beam_unknown_args(beam_args)
    if not unknown:
        return
    flags = [a for a in unknown if a.startswith("-")]
    if not flags:
        parser.error(
            f"unexpected argument {unknown[0]!r}: every value must follow a flag."
        )
    flag = flags[0]
    parser.error(
        f"unknown argument {flag}: it is neither a wdbc-score flag nor a Beam "
        f"pipeline option.{_suggestion(flag, beam_flags)}"
    )


def parse_args(argv: list[str] | None) -> tuple[ScoringConfig, list[str]]:
    """Split ``argv`` into the job's config and the arguments for Beam.

    Exits with status 2 when an argument is unknown to the job and to Beam.
    """
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    _check_beam_args(parser, beam_args)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.max_psi is not None and not args.max_psi >= 0:
        parser.error(f"--max_psi must be a number of 0 or more, got {args.max_psi}")
    share = args.max_rejected_share
    if share is not None and not 0 <= share <= 1:
        parser.error(f"--max_rejected_share must be between 0 and 1, got {share}")
    if args.min_drift_rows < 0:
        parser.error(f"--min_drift_rows must be 0 or more, got {args.min_drift_rows}")
    config = ScoringConfig(
        input=tuple(args.input),
        model_dir=args.model_dir,
        output_dir=args.output_dir.rstrip("/"),
        output_format=args.output_format,
        batch_size=args.batch_size,
        max_psi=args.max_psi,
        max_rejected_share=args.max_rejected_share,
        min_drift_rows=args.min_drift_rows,
    )
    return config, beam_args
