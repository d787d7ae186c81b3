"""Custom SGD loop for the logistic regression under MirroredStrategy."""

import dataclasses
import logging
import time

import numpy as np
import tensorflow as tf

from train.model import LogisticRegression, per_example_loss

_LOGGER = logging.getLogger(__name__)

_SUM = tf.distribute.ReduceOp.SUM


class _RetracingWarningFilter(logging.Filter):
    """Drop TensorFlow's retracing warning about ``train_model``'s step.

    Each call of ``train_model`` builds a new model, one per CV fold, so it
    traces its own ``tf.function`` once by design. TensorFlow 2.21 warns
    after five such traces, which would read as a fault to users.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "train_model.<locals>.run_epochs" in message
            and "triggered tf.function retracing" in message
        )


tf.get_logger().addFilter(_RetracingWarningFilter())


class TrainingDivergedError(ValueError):
    """The weights became infinite or NaN during training."""


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Hyperparameters of one training run."""

    learning_rate: float = 0.01
    batch_size: int = 64
    epochs: int = 200
    seed: int = 22
    l2: float = 0.0
    log_every_epochs: int = 20


@dataclasses.dataclass
class TrainResult:
    """Trained parameters and the per-epoch whole-set history."""

    weights: np.ndarray  # float32 [30, 1]
    bias: float
    num_replicas: int
    train_seconds: float
    # One dict a epoch: "epoch" and, for each evaluated set NAME,
    # "NAME_log_loss" and "NAME_accuracy" on the whole set.
    history: list[dict[str, float]]


def train_model(
    strategy: tf.distribute.Strategy,
    x_train: np.ndarray,
    y_train: np.ndarray,
    options: TrainOptions,
    eval_sets: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    threshold: float = 0.5,
) -> TrainResult:
    """Train on normalized ``x_train`` with mini-batch SGD.

    The data is shuffled with the seed every epoch and batched by the GLOBAL
    batch size, then split across replicas. Each replica's loss is its sum
    of per-example losses divided by the number of examples in the whole
    global batch, so the short last batch and empty replica slices weigh
    examples the same as full batches. The gradients are summed across
    replicas once and one SGD update is applied to the mirrored variables.

    ``eval_sets`` maps a name to (features, labels). Whole-set log loss and
    accuracy at ``threshold`` are recorded for each after every epoch.
    """
    eval_sets = dict(eval_sets or {})
    num_replicas = strategy.num_replicas_in_sync

    tf.random.set_seed(options.seed)
    with strategy.scope():
        model = LogisticRegression(x_train.shape[1], seed=options.seed)
    variables = (model.w, model.b)

    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=options.seed, reshuffle_each_iteration=True)
        .batch(options.batch_size)
        .repeat()
    )
    # Without autotuning the iterator starts no model thread. Destroying an
    # iterator waits for that thread, so after many runs in one process the
    # interpreter's exit took minutes (TensorFlow 2.21). These tiny batches do
    # not need tuned prefetching.
    dataset_options = tf.data.Options()
    dataset_options.autotune.enabled = False
    dataset = dataset.with_options(dataset_options)
    steps_per_epoch = -(-len(x_train) // options.batch_size)
    # One iterator for the whole run: restarting a distributed iterator every
    # epoch costs more than the epoch's steps. Batching before repeat() keeps
    # each epoch's short last batch, and each pass reshuffles.
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    learning_rate = tf.constant(options.learning_rate, tf.float32)
    l2_per_replica = tf.constant(options.l2 / num_replicas, tf.float32)

    def sgd_update(variable, gradient):
        return variable.assign_sub(learning_rate * gradient)

    def apply_gradients(distribution, gradients):
        # Cross-replica context: sum the replicas' gradients once, then
        # update every copy of each mirrored variable with that one sum.
        reduced = distribution.extended.batch_reduce_to(
            _SUM, list(zip(gradients, variables, strict=True))
        )
        for variable, gradient in zip(variables, reduced, strict=True):
            distribution.extended.update(
                variable, sgd_update, args=(gradient,), group=False
            )

    def replica_step(x, y):
        context = tf.distribute.get_replica_context()
        local_count = tf.cast(tf.shape(y)[0], tf.float32)
        global_count = context.all_reduce(_SUM, local_count)
        with tf.GradientTape() as tape:
            logits = model(x)
            loss = tf.reduce_sum(per_example_loss(y, logits)) / global_count
            # Each replica adds its share, so the sum over replicas adds the
            # penalty 0.5 * l2 * ||w||^2 once. The bias is not penalized.
            loss += 0.5 * l2_per_replica * tf.reduce_sum(tf.square(model.w))
        gradients = tape.gradient(loss, variables)
        context.merge_call(apply_gradients, args=(gradients,))
        return loss

    eval_tensors = {
        name: (tf.constant(x, tf.float32), tf.constant(y, tf.float32))
        for name, (x, y) in eval_sets.items()
    }
    threshold_tensor = tf.constant(threshold, tf.float32)

    names = list(eval_tensors)

    @tf.function
    def run_epochs(num_epochs):
        # Several epochs a call, because the per-call overhead of a
        # tf.function is larger than one epoch's work on 427 rows.
        scores = tf.TensorArray(tf.float32, size=num_epochs)
        for epoch in tf.range(num_epochs):
            for _ in tf.range(steps_per_epoch):
                x, y = next(iterator)
                strategy.run(replica_step, args=(x, y))
            row = []
            for name in names:
                x, y = eval_tensors[name]
                row.extend(_whole_set_scores(model, x, y, threshold_tensor))
            scores = scores.write(epoch, tf.stack(row) if row else tf.zeros([0]))
        return scores.stack()

    chunk = options.log_every_epochs or options.epochs
    history = []
    started = time.perf_counter()
    while len(history) < options.epochs:
        count = min(chunk, options.epochs - len(history))
        for row in run_epochs(tf.constant(count)).numpy():
            record = {"epoch": len(history) + 1}
            for index, name in enumerate(names):
                record[f"{name}_log_loss"] = float(row[2 * index])
                record[f"{name}_accuracy"] = float(row[2 * index + 1])
            history.append(record)
        if options.log_every_epochs:
            _log_epoch(history[-1], names)
    train_seconds = time.perf_counter() - started
    weights = model.w.numpy()
    bias = float(model.b.numpy())
    finite_history = all(np.isfinite(list(record.values())).all() for record in history)
    if not (np.all(np.isfinite(weights)) and np.isfinite(bias) and finite_history):
        raise TrainingDivergedError(
            f"Training diverged: the weights or losses are not finite after "
            f"{options.epochs} epochs at learning rate {options.learning_rate}. "
            "Lower --learning_rate."
        )

    return TrainResult(
        weights=weights,
        bias=bias,
        num_replicas=num_replicas,
        train_seconds=train_seconds,
        history=history,
    )


def _whole_set_scores(model, x, y, threshold):
    logits = model(x)
    log_loss = tf.reduce_mean(per_example_loss(y, logits))
    predicted = tf.cast(tf.sigmoid(logits) >= threshold, tf.float32)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(predicted, y), tf.float32))
    return log_loss, accuracy


def _log_epoch(record: dict[str, float], names: list[str]) -> None:
    parts = []
    for name in names:
        log_loss = record[f"{name}_log_loss"]
        accuracy = record[f"{name}_accuracy"]
        parts.append(f"{name} log loss {log_loss:.4f} accuracy {accuracy:.4f}")
    _LOGGER.info("Epoch %d: %s", record["epoch"], ", ".join(parts))
