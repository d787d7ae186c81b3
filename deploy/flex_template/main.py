"""Entry point that the Dataflow Flex Template launcher runs.

The launcher calls ``python main.py`` with the template parameters and the
job's Dataflow options as ``--name=value`` arguments. A Flex Template
launcher must exit once the job is submitted, so this does not wait for the
job: ``--max_psi`` is then enforced by the pipeline withholding ``_SUCCESS``,
not by the exit status.
"""

import logging
import sys

from pipeline.run import JobError, run

_LOGGER = logging.getLogger(__name__)


def with_dataflow_runner(argv: list[str]) -> list[str]:
    """Return ``argv`` with ``--runner DataflowRunner`` unless it names a runner.

    ``wdbc-score`` runs locally without ``--runner``; a template launch must
    always go to Dataflow.
    """
    if any(arg == "--runner" or arg.startswith("--runner=") for arg in argv):
        return list(argv)
    return [*argv, "--runner", "DataflowRunner"]


def main(argv: list[str] | None = None) -> int:
    """Submit the scoring job and return the exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = sys.argv[1:] if argv is None else argv
    try:
        run(with_dataflow_runner(args), wait=False)
    except JobError as e:
        _LOGGER.error("The scoring job was not submitted: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
