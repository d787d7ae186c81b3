"""One training run: load, select, cross-validate, train, export, report."""

import dataclasses
import logging

import numpy as np
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems

from train import cv, data, distributed, export, metrics, plots, trainer
from wdbc import dataset, schema, statistics, storage

_LOGGER = logging.getLogger(__name__)

METRICS_FILENAME = "metrics.json"
HISTORY_FILENAME = "history.json"
MODEL_SUBDIR = "model"
PLOTS_SUBDIR = "plots"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the device setup."""

    data_path: str
    output_dir: str
    options: trainer.TrainOptions
    threshold: float = 0.5
    devices: tuple[str, ...] = ()
    # Folds of the cross-validated estimate on training rows, 0 for none.
    folds: int = 5
    select_by_cv: bool = False
    cv_learning_rates: tuple[float, ...] = cv.LEARNING_RATE_GRID
    cv_l2: tuple[float, ...] = cv.L2_GRID
    # When set, the exported threshold is chosen from out-of-fold
    # predictions and ``threshold`` is ignored.
    max_false_negative_rate: float | None = None
    write_plots: bool = True


@dataclasses.dataclass
class RunOutcome:
    """What a run produced: the metrics.json content and the in-memory models."""

    summary: dict
    serving_model: export.ServingModel
    train_result: trainer.TrainResult
    normalization: data.Normalization
    cross_validation: cv.CrossValidation | None


def load_split(path: str, folds: int = 5):
    """Load the labeled file and return (train rows, test rows)."""
    frame = dataset.load_labeled(path, min_rows=data.min_rows_for_split(folds))
    return data.split_train_test(frame)


def run_training(config: RunConfig) -> RunOutcome:
    """Train, export and write metrics.json, history.json and plots/.

    Raises wdbc.dataset.DataError before any training when the data file is
    missing or invalid or a split or CV fold would lack a class, and
    OutputDirError when a remote ``output_dir``
    cannot be listed.
    """
    _check_config(config)
    _check_output_dir(config.output_dir)
    # Same seed, data and devices then give the same weights on every run.
    tf.config.experimental.enable_op_determinism()

    train_rows, test_rows = load_split(config.data_path, max(config.folds, 2))
    data.check_class_counts(config.data_path, train_rows, test_rows, config.folds)
    data_sha256 = dataset.file_sha256(config.data_path)
    _LOGGER.info(
        "Split %d rows into %d training and %d test rows",
        len(train_rows) + len(test_rows),
        len(train_rows),
        len(test_rows),
    )
    raw_train = data.features_of(train_rows)
    raw_test = data.features_of(test_rows)
    y_train = data.labels_of(train_rows)
    y_test = data.labels_of(test_rows)
    normalization = data.Normalization.fit(raw_train)
    data.check_normalized(
        config.data_path, normalization, {"training": train_rows, "test": test_rows}
    )

    devices = distributed.select_devices(list(config.devices))
    strategy = distributed.make_strategy(devices)

    options = config.options
    selection = None
    if config.select_by_cv:
        options, candidates = cv.select_options(
            strategy,
            raw_train,
            y_train,
            options,
            config.folds,
            config.threshold,
            learning_rates=config.cv_learning_rates,
            l2_values=config.cv_l2,
        )
        selection = {
            "criterion": "lowest mean held-out log loss over folds and epochs",
            "folds": config.folds,
            "max_epochs": config.options.epochs,
            "chosen": {
                "learning_rate": options.learning_rate,
                "l2": options.l2,
                "epochs": options.epochs,
            },
            "candidates": candidates,
        }

    cross_validation = None
    if config.folds:
        cross_validation = cv.cross_validate(
            strategy, raw_train, y_train, options, config.folds
        )

    threshold, threshold_selection = _choose_threshold(
        config, cross_validation, y_train
    )

    result = trainer.train_model(
        strategy,
        normalization.apply(raw_train),
        y_train,
        options,
        eval_sets={
            "train": (normalization.apply(raw_train), y_train),
            "test": (normalization.apply(raw_test), y_test),
        },
        threshold=threshold,
    )

    model_root = FileSystems.join(config.output_dir, MODEL_SUBDIR)
    model_version = export.new_model_version(model_root)
    serving = export.ServingModel(
        result.weights, result.bias, normalization, threshold, model_version
    )
    p_train = _probabilities(serving, raw_train)
    p_test = _probabilities(serving, raw_test)
    train_report = metrics.classification_report(y_train, p_train, threshold)
    test_report = metrics.classification_report(y_test, p_test, threshold)
    if threshold_selection.get("rule") == "max_false_negative_rate":
        threshold_selection["test_false_negative_rate"] = test_report[
            "false_negative_rate"
        ]

    raw_train_float64 = train_rows.loc[:, list(schema.FEATURE_NAMES)].to_numpy(float)
    training = statistics.training_statistics(raw_train_float64, p_train)
    model_dir = FileSystems.join(model_root, model_version)
    hyperparameters = dataclasses.asdict(options)
    hyperparameters.update(
        threshold=threshold,
        folds=config.folds,
        select_by_cv=config.select_by_cv,
        max_false_negative_rate=config.max_false_negative_rate,
    )
    if config.select_by_cv:
        hyperparameters.update(
            cv_learning_rates=list(config.cv_learning_rates),
            cv_l2=list(config.cv_l2),
        )
    summary = {
        "train_accuracy": train_report["accuracy"],
        "train_log_loss": train_report["log_loss"],
        "train_roc_auc": train_report["roc_auc"],
        "test_accuracy": test_report["accuracy"],
        "test_log_loss": test_report["log_loss"],
        "test_roc_auc": test_report["roc_auc"],
        "threshold": threshold,
        "train_seconds": result.train_seconds,
        "model_dir": model_dir,
        "model_version": model_version,
        "num_replicas": result.num_replicas,
        "devices": devices,
        "train": train_report,
        "test": test_report,
        "hyperparameters": hyperparameters,
        "threshold_selection": threshold_selection,
        "cross_validation": (
            cross_validation.summary(threshold) if cross_validation else None
        ),
        "model_selection": selection,
        "data": {
            "path": config.data_path,
            "sha256": data_sha256,
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
        },
    }
    # Encoding first rejects NaN before anything is written. The export comes
    # next, and it is removed again if a later write fails, so a failed run
    # leaves no model version that scoring would take as the newest.
    metrics_json = export.encode_json(summary)
    history_json = export.encode_json({"epochs": result.history})
    exported_dir = export.export_model(
        serving, model_root, {statistics.METADATA_KEY: training}
    )
    try:
        export.write_json(
            FileSystems.join(config.output_dir, METRICS_FILENAME), metrics_json
        )
        export.write_json(
            FileSystems.join(config.output_dir, HISTORY_FILENAME), history_json
        )
        if config.write_plots:
            plots.write_all(
                FileSystems.join(config.output_dir, PLOTS_SUBDIR),
                result.history,
                {"train": (y_train, p_train), "test": (y_test, p_test)},
                threshold,
            )
    except BaseException:
        export.remove_version(exported_dir)
        raise
    _LOGGER.info(
        "Test accuracy %.4f, log loss %.4f, ROC AUC %.4f; metrics in %s",
        summary["test_accuracy"],
        summary["test_log_loss"],
        summary["test_roc_auc"] or float("nan"),
        config.output_dir,
    )
    return RunOutcome(summary, serving, result, normalization, cross_validation)


def _check_config(config: RunConfig) -> None:
    if config.folds == 1 or config.folds < 0:
        raise ValueError(f"invalid fold count {config.folds}; expected 0 or >= 2")
    needs_folds = config.select_by_cv or config.max_false_negative_rate is not None
    if needs_folds and not config.folds:
        raise ValueError(
            "selecting by cross-validation or by false negative rate needs folds >= 2"
        )


class OutputDirError(ValueError):
    """``--output_dir`` cannot be listed, so nothing could be written there."""


def _check_output_dir(output_dir: str) -> None:
    """Fail before training when a remote ``output_dir`` cannot be listed.

    A local folder is created on the first write, so only remote folders such
    as ``gs://`` are checked here.
    """
    if not storage.is_remote(output_dir):
        return
    problem = storage.folder_listing_problem(output_dir)
    if problem:
        raise OutputDirError(f"--output_dir {output_dir}: {problem}")


def _choose_threshold(config, cross_validation, y_train) -> tuple[float, dict]:
    if config.max_false_negative_rate is None:
        return config.threshold, {"rule": "fixed"}
    probabilities = cross_validation.out_of_fold_probabilities
    threshold = cv.max_threshold_for_false_negative_rate(
        y_train, probabilities, config.max_false_negative_rate
    )
    report = metrics.classification_report(y_train, probabilities, threshold)
    _LOGGER.info(
        "Threshold %.6f keeps the out-of-fold false negative rate at %.4f (limit %.4f)",
        threshold,
        report["false_negative_rate"],
        config.max_false_negative_rate,
    )
    return threshold, {
        "rule": "max_false_negative_rate",
        "max_false_negative_rate": config.max_false_negative_rate,
        "out_of_fold_false_negative_rate": report["false_negative_rate"],
        "out_of_fold_false_positive_rate": report["false_positive_rate"],
    }


def _probabilities(serving: export.ServingModel, raw_features: np.ndarray):
    outputs = serving.serve(tf.constant(raw_features, tf.float32))
    return outputs["probability"].numpy()
