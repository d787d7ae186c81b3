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
    "test_roc_auc",
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


def _nonnegative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected >= 0")
    return value


def _open_unit_interval(text: str) -> float:
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}; expected a number between 0 and 1 (exclusive)"
        )
    return value


def _unit_interval(text: str) -> float:
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}; expected a number in [0, 1)"
        )
    return value


def _fold_count(text: str) -> int:
    value = _int(text)
    if value == 1 or value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid fold count {text!r}; expected 0 (no cross-validation) or >= 2"
        )
    return value


def _number_list(text: str, minimum_exclusive: float | None = None) -> tuple:
    values = []
    for item in text.split(","):
        value = _float(item.strip())
        if value < 0 or (minimum_exclusive is not None and value <= 0):
            bound = "> 0" if minimum_exclusive is not None else ">= 0"
            raise argparse.ArgumentTypeError(
                f"invalid value {item.strip()!r} in {text!r}; expected {bound}"
            )
        values.append(value)
    return tuple(values)


def _learning_rate_list(text: str) -> tuple:
    return _number_list(text, minimum_exclusive=0.0)


def _device_list(text: str) -> tuple:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"invalid device list {text!r}")
    return names


def _joined(values: tuple) -> str:
    return ",".join(str(value) for value in values)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for the training command."""
    from train import cv
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
        "--l2",
        type=_nonnegative_float,
        default=0.0,
        help="L2 penalty 0.5 * L2 * ||w||^2 added to the mean loss; the bias is "
        "not penalized (default: %(default)s)",
    )
    threshold_group = parser.add_mutually_exclusive_group()
    threshold_group.add_argument(
        "--threshold",
        type=_open_unit_interval,
        default=0.5,
        help="probability at or above which a row is predicted malignant "
        "(default: %(default)s)",
    )
    threshold_group.add_argument(
        "--max_false_negative_rate",
        type=_unit_interval,
        default=None,
        help="export the highest threshold whose false negative rate on "
        "out-of-fold predictions of the training rows is <= this rate",
    )
    parser.add_argument(
        "--folds",
        type=_fold_count,
        default=5,
        help="folds of the cross-validated estimate on training rows, "
        "0 to skip it (default: %(default)s)",
    )
    parser.add_argument(
        "--select_by_cv",
        action="store_true",
        help="choose learning rate, L2 strength and epoch count (early "
        "stopping, at most --epochs) by k-fold CV on training rows",
    )
    parser.add_argument(
        "--cv_learning_rates",
        type=_learning_rate_list,
        default=cv.LEARNING_RATE_GRID,
        help="comma-separated learning rates tried by --select_by_cv "
        f"(default: {_joined(cv.LEARNING_RATE_GRID)})",
    )
    parser.add_argument(
        "--cv_l2",
        type=_number_list,
        default=cv.L2_GRID,
        help="comma-separated L2 strengths tried by --select_by_cv "
        f"(default: {_joined(cv.L2_GRID)})",
    )
    parser.add_argument(
        "--cpu_devices",
        type=_positive_int,
        default=None,
        help="split the host CPU into N logical devices and mirror across them "
        "when no GPU is visible (default: 1 device)",
    )
    parser.add_argument(
        "--devices",
        type=_device_list,
        default=(),
        help="comma-separated devices to mirror across, e.g. CPU:0,CPU:1 "
        "(default: every GPU, else every logical CPU device)",
    )
    parser.add_argument(
        "--no_plots",
        action="store_true",
        help="skip writing PNG plots to OUTPUT_DIR/plots/",
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

    from train import distributed, run, trainer
    from wdbc.dataset import DataError

    try:
        # Must run before anything makes TensorFlow initialize its devices.
        if args.cpu_devices:
            distributed.configure_cpu_devices(args.cpu_devices)
        config = run.RunConfig(
            data_path=args.data,
            output_dir=args.output_dir,
            threshold=args.threshold,
            devices=args.devices,
            folds=args.folds,
            select_by_cv=args.select_by_cv,
            cv_learning_rates=args.cv_learning_rates,
            cv_l2=args.cv_l2,
            max_false_negative_rate=args.max_false_negative_rate,
            write_plots=not args.no_plots,
            options=trainer.TrainOptions(
                learning_rate=args.learning_rate,
                batch_size=args.batch_size,
                epochs=args.epochs,
                seed=args.seed,
                l2=args.l2,
                log_every_epochs=args.log_every_epochs,
            ),
        )
        summary = run.run_training(config).summary
    except (DataError, distributed.DeviceError, ValueError) as error:
        print(f"wdbc-train: error: {error}", file=sys.stderr)
        return 2
    for key in _SUMMARY_KEYS:
        print(f"{key}: {summary[key]}")
    return 0
