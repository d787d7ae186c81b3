"""Command line for ``wdbc-train`` and ``python -m train``."""

import argparse
import logging
import sys

_LOGGER = logging.getLogger(__name__)

# Printed at the end of a run, one "key: value" line each.
_SUMMARY_KEYS = (
    "train_accuracy",
    "train_log_loss",
    "test_accuracy",
    "test_log_loss",
    "threshold",
    "train_seconds",
    "num_replicas",
    "model_version",
    "model_dir",
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid integer {text!r}; expected a whole number >= 1"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {value}; expected >= 1")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid integer {text!r}; expected a whole number"
        ) from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"invalid number {text!r}; expected finite")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected > 0")
    return value


def _open_unit_interval(text: str) -> float:
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}; expected a number between 0 and 1 (exclusive)"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for the training command."""
    from wdbc.dataset import DEFAULT_DATA_PATH

    parser = argparse.ArgumentParser(
        prog="wdbc-train",
        description=(
            "Train a logistic regression on labeled WDBC rows and export it as "
            "a TensorFlow SavedModel under OUTPUT_DIR/model/<version>/."
        ),
    )
    parser.add_argument(
        "--data",
        default=DEFAULT_DATA_PATH,
        help="labeled CSV: the headerless UCI layout or a header row naming "
        "id, diagnosis and the 30 features (default: the bundled UCI file)",
    )
    parser.add_argument(
        "--output_dir",
        required=True,
        help="folder for model/<version>/, metrics.json, history.json and plots/",
    )
    parser.add_argument(
        "--learning_rate",
        type=_positive_float,
        default=0.01,
        help="SGD step size (default: %(default)s)",
    )
    parser.add_argument(
        "--batch_size",
        type=_positive_int,
        default=64,
        help="global batch size, split across replicas (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=200,
        help="passes over the training rows (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_int,
        default=22,
        help="seed for initial weights and shuffling (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=_open_unit_interval,
        default=0.5,
        help="probability at or above which a row is predicted malignant "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--log_every_epochs",
        type=_positive_int,
        default=20,
        help="log whole-set losses and accuracies every N epochs "
        "(default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run training; return 0 on success, 2 on invalid flags or input data."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return int(exit_request.code or 0)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    from train import run, trainer
    from wdbc.dataset import DataError

    config = run.RunConfig(
        data_path=args.data,
        output_dir=args.output_dir,
        threshold=args.threshold,
        options=trainer.TrainOptions(
            learning_rate=args.learning_rate,
            batch_size=args.batch_size,
            epochs=args.epochs,
            seed=args.seed,
            log_every_epochs=args.log_every_epochs,
        ),
    )
    try:
        summary = run.run_training(config).summary
    except DataError as error:
        print(f"wdbc-train: error: {error}", file=sys.stderr)
        return 2
    for key in _SUMMARY_KEYS:
        print(f"{key}: {summary[key]}")
    return 0
