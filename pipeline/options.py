"""The scoring job's own flags, declared once.

``run.py`` parses them with ``parse_known_args`` and hands the rest to Beam's
``PipelineOptions``. The Dataflow Flex Template metadata is checked against
the same declarations.
"""

import argparse
import dataclasses

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")
DEFAULT_OUTPUT_FORMAT = "parquet"
# Rows per call of the exported signature.
DEFAULT_BATCH_SIZE = 8192


@dataclasses.dataclass(frozen=True)
class Flag:
    """One job flag: its argparse settings and a pattern for template UIs."""

    name: str
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
        "Glob of CSV or Parquet shards to score (local path or gs://). "
        "Repeat the flag to read several globs.",
        required=True,
        repeatable=True,
        regex=r"^.+\.(csv|csv\.gz|data|data\.gz|txt|txt\.gz|parquet|pq|\*)$",
    ),
    Flag(
        "model_dir",
        "Export written by wdbc-train: a version folder, or its base folder, "
        "in which case the highest numbered version is used.",
        required=True,
        regex=r"^.+$",
    ),
    Flag(
        "output_dir",
        "Folder that receives the scored shards; earlier outputs in it are replaced.",
        required=True,
        regex=r"^.+$",
    ),
    Flag(
        "output_format",
        "File format of the scored shards.",
        default=DEFAULT_OUTPUT_FORMAT,
        choices=OUTPUT_FORMATS,
        regex=r"^(parquet|csv|jsonl)$",
    ),
    Flag(
        "batch_size",
        "Rows per call of the model's serving function.",
        default=DEFAULT_BATCH_SIZE,
        type=int,
        regex=r"^[1-9][0-9]*$",
    ),
    Flag(
        "max_psi",
        "Fail the run when any feature's population stability index against "
        "the training data is above this value (unitless, e.g. 0.25): the "
        "outputs and summary.json are still written, _SUCCESS is not, and the "
        "launcher exits non-zero. Without it, drift is only reported.",
        type=float,
        regex=r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$",
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


def parse_args(argv: list[str] | None) -> tuple[ScoringConfig, list[str]]:
    """Split ``argv`` into the job's config and the arguments for Beam."""
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.max_psi is not None and not args.max_psi >= 0:
        parser.error(f"--max_psi must be a number of 0 or more, got {args.max_psi}")
    config = ScoringConfig(
        input=tuple(args.input),
        model_dir=args.model_dir,
        output_dir=args.output_dir.rstrip("/"),
        output_format=args.output_format,
        batch_size=args.batch_size,
        max_psi=args.max_psi,
    )
    return config, beam_args
