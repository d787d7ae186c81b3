"""Time the compiled training loop against a plain eager loop.

Both loops train the same logistic regression on the same normalized rows
for the same number of epochs, batch size and learning rate. The eager loop
follows the structure of the TensorFlow guide "Logistic regression for
binary classification with Core APIs": one eager ``tf.GradientTape`` step a
batch, then batch-wise train and test loss and accuracy every epoch, with
no ``tf.function``. The compiled loop is ``train.trainer.train_model`` as
the default ``wdbc-train`` run calls it.

Run: python benchmarks/train_speed.py [--repeats 3] [--epochs 200]
[--no_determinism]. Each time covers the epochs of one loop, including the
compiled loop's first-call tracing, and excludes data loading.
"""

import argparse
import json
import logging
import os
import platform
import statistics
import time

import numpy as np
import tensorflow as tf

from train import data, distributed, run, trainer
from train.model import LogisticRegression, per_example_loss
from wdbc import dataset

_LOGGER = logging.getLogger(__name__)


def eager_loop(x_train, y_train, x_test, y_test, options, threshold=0.5) -> float:
    """Train with per-batch eager steps and return the loop's seconds."""
    tf.random.set_seed(options.seed)
    model = LogisticRegression(x_train.shape[1], seed=options.seed)
    train_batches = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=options.seed, reshuffle_each_iteration=True)
        .batch(options.batch_size)
    )
    test_batches = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(
        options.batch_size
    )

    def batch_accuracy(y, logits):
        predicted = tf.cast(tf.sigmoid(logits) >= threshold, tf.float32)
        return tf.reduce_mean(tf.cast(tf.equal(predicted, y), tf.float32))

    started = time.perf_counter()
    for _ in range(options.epochs):
        train_losses, train_accuracies = [], []
        for x, y in train_batches:
            with tf.GradientTape() as tape:
                logits = model(x)
                loss = tf.reduce_mean(per_example_loss(y, logits))
            gradients = tape.gradient(loss, model.trainable_variables)
            for gradient, variable in zip(
                gradients, model.trainable_variables, strict=True
            ):
                variable.assign_sub(options.learning_rate * gradient)
            train_losses.append(loss)
            train_accuracies.append(batch_accuracy(y, logits))
        test_losses, test_accuracies = [], []
        for x, y in test_batches:
            logits = model(x)
            test_losses.append(tf.reduce_mean(per_example_loss(y, logits)))
            test_accuracies.append(batch_accuracy(y, logits))
        # The guide averages batch values once an epoch.
        tf.reduce_mean(train_losses).numpy()
        tf.reduce_mean(test_losses).numpy()
        tf.reduce_mean(train_accuracies).numpy()
        tf.reduce_mean(test_accuracies).numpy()
    return time.perf_counter() - started


def compiled_loop(strategy, x_train, y_train, x_test, y_test, options) -> float:
    """Train with train.trainer.train_model and return its train_seconds."""
    result = trainer.train_model(
        strategy,
        x_train,
        y_train,
        options,
        eval_sets={"train": (x_train, y_train), "test": (x_test, y_test)},
    )
    return result.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each loop")
    parser.add_argument("--epochs", type=int, default=200, help="epochs a run")
    parser.add_argument(
        "--no_determinism",
        action="store_true",
        help="leave op determinism off (the default wdbc-train run turns it on)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    # The default training run enables op determinism, so by default both
    # loops run with it too.
    if not args.no_determinism:
        tf.config.experimental.enable_op_determinism()
    train_rows, test_rows = run.load_split(dataset.DEFAULT_DATA_PATH)
    normalization = data.Normalization.fit(data.features_of(train_rows))
    x_train = normalization.apply(data.features_of(train_rows))
    x_test = normalization.apply(data.features_of(test_rows))
    y_train = data.labels_of(train_rows)
    y_test = data.labels_of(test_rows)
    options = trainer.TrainOptions(epochs=args.epochs, log_every_epochs=20)
    strategy = distributed.make_strategy(distributed.select_devices())

    compiled, eager = [], []
    for _ in range(args.repeats):
        compiled.append(
            compiled_loop(strategy, x_train, y_train, x_test, y_test, options)
        )
        eager.append(eager_loop(x_train, y_train, x_test, y_test, options))

    compiled_median = statistics.median(compiled)
    eager_median = statistics.median(eager)
    report = {
        "epochs": args.epochs,
        "batch_size": options.batch_size,
        "repeats": args.repeats,
        "op_determinism": not args.no_determinism,
        "compiled_seconds": [round(value, 3) for value in compiled],
        "eager_seconds": [round(value, 3) for value in eager],
        "compiled_median_seconds": round(compiled_median, 3),
        "eager_median_seconds": round(eager_median, 3),
        "ratio_compiled_over_eager": round(compiled_median / eager_median, 3),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
