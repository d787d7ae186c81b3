"""One training run: load, split, train, evaluate, export, write metrics."""

import dataclasses
import logging

import numpy as np
from apache_beam.io.filesystems import FileSystems

from train import data, distributed, export, metrics, trainer
from wdbc import dataset

_LOGGER = logging.getLogger(__name__)

METRICS_FILENAME = "metrics.json"
HISTORY_FILENAME = "history.json"
MODEL_SUBDIR = "model"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs besides the device setup."""

    data_path: str
    output_dir: str
    options: trainer.TrainOptions
    threshold: float = 0.5
    devices: tuple[str, ...] = ()


@dataclasses.dataclass
class RunOutcome:
    """What a run produced: the metrics.json content and the in-memory models."""

    summary: dict
    serving_model: export.ServingModel
    train_result: trainer.TrainResult
    normalization: data.Normalization


def load_split(path: str):
    """Load the labeled file and return (train rows, test rows)."""
    frame = dataset.load_labeled(path, min_rows=data.min_rows_for_split(folds=2))
    return data.split_train_test(frame)


def run_training(config: RunConfig) -> RunOutcome:
    """Train, export and write ``metrics.json`` and ``history.json``.

    Raises wdbc.dataset.DataError before any training when the data file is
    missing or invalid.
    """
    train_rows, test_rows = load_split(config.data_path)
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

    strategy = distributed.make_strategy(
        distributed.select_devices(list(config.devices))
    )
    result = trainer.train_model(
        strategy,
        normalization.apply(raw_train),
        y_train,
        config.options,
        eval_sets={"test": (normalization.apply(raw_test), y_test)},
        threshold=config.threshold,
    )

    model_root = FileSystems.join(config.output_dir, MODEL_SUBDIR)
    model_version = export.new_model_version(model_root)
    serving = export.ServingModel(
        result.weights, result.bias, normalization, config.threshold, model_version
    )
    train_report = _report(serving, raw_train, y_train, config.threshold)
    test_report = _report(serving, raw_test, y_test, config.threshold)

    model_dir = export.export_model(serving, model_root)
    summary = {
        "train_accuracy": train_report["accuracy"],
        "train_log_loss": train_report["log_loss"],
        "test_accuracy": test_report["accuracy"],
        "test_log_loss": test_report["log_loss"],
        "threshold": config.threshold,
        "train_seconds": result.train_seconds,
        "model_dir": model_dir,
        "model_version": model_version,
        "num_replicas": result.num_replicas,
        "train": train_report,
        "test": test_report,
        "hyperparameters": dataclasses.asdict(config.options),
        "data": {
            "path": config.data_path,
            "sha256": data_sha256,
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
        },
    }
    export.write_json(FileSystems.join(config.output_dir, METRICS_FILENAME), summary)
    export.write_json(
        FileSystems.join(config.output_dir, HISTORY_FILENAME),
        {"epochs": result.history},
    )
    _LOGGER.info(
        "Test accuracy %.4f, test log loss %.4f; metrics in %s",
        summary["test_accuracy"],
        summary["test_log_loss"],
        config.output_dir,
    )
    return RunOutcome(summary, serving, result, normalization)


def _report(serving, raw_features, labels, threshold) -> dict:
    probabilities = serving.serve(raw_features.astype(np.float32))["probability"]
    return metrics.classification_report(labels, probabilities.numpy(), threshold)
