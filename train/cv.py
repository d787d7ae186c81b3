"""K-fold cross-validation on training rows: estimates and model selection."""

import dataclasses
import itertools
import logging

import numpy as np
import tensorflow as tf

from train import data, metrics, trainer

_LOGGER = logging.getLogger(__name__)

# Default search space of --select_by_cv. With the default 200 epochs,
# learning rate 0.01 is still improving at the last epoch, so larger steps
# are candidates too; the epoch count is then chosen by early stopping.
LEARNING_RATE_GRID = (0.01, 0.1, 0.3)
L2_GRID = (0.0, 0.001, 0.01)


@dataclasses.dataclass
class CrossValidation:
    """Out-of-fold probabilities and learning curve of one configuration."""

    options: trainer.TrainOptions
    labels: np.ndarray
    # Held-out row positions of each fold.
    held_out_rows: list[np.ndarray]
    # P(malignant) of every training row from the fold that held it out.
    out_of_fold_probabilities: np.ndarray
    # Mean held-out log loss over folds after each epoch.
    mean_validation_log_loss: list[float]

    def fold_scores(self, threshold: float) -> list[dict]:
        """Return each fold's held-out rows, accuracy, log loss and ROC AUC.

        ROC AUC is None for a fold whose held-out rows are all of one class.
        """
        scores = []
        for rows in self.held_out_rows:
            labels = self.labels[rows]
            probabilities = self.out_of_fold_probabilities[rows]
            predicted = metrics.predict_classes(probabilities, threshold)
            auc = metrics.roc_auc(labels, probabilities)
            scores.append(
                {
                    "rows": len(rows),
                    "accuracy": float(np.mean(predicted == labels)),
                    "log_loss": metrics.log_loss(labels, probabilities),
                    "roc_auc": None if np.isnan(auc) else auc,
                }
            )
        return scores

    def summary(self, threshold: float) -> dict:
        """Return the configuration and mean and std (ddof=0) of each score.

        The mean and std of a score skip folds where it is None, and are
        None when no fold defines it.
        """
        folds = self.fold_scores(threshold)
        result = {
            "folds": len(self.held_out_rows),
            "learning_rate": self.options.learning_rate,
            "l2": self.options.l2,
            "epochs": self.options.epochs,
            "threshold": threshold,
        }
        for key in ("accuracy", "log_loss", "roc_auc"):
            defined = [fold[key] for fold in folds if fold[key] is not None]
            values = np.array(defined, np.float64)
            result[f"{key}_mean"] = float(np.mean(values)) if defined else None
            result[f"{key}_std"] = float(np.std(values)) if defined else None
        result["per_fold"] = folds
        return result

    def best_epoch(self) -> int:
        """Return the 1-based epoch with the lowest mean held-out log loss."""
        return int(np.argmin(self.mean_validation_log_loss)) + 1


def cross_validate(
    strategy: tf.distribute.Strategy,
    raw_features: np.ndarray,
    labels: np.ndarray,
    options: trainer.TrainOptions,
    folds: int,
) -> CrossValidation:
    """Train one model a fold and predict that fold's held-out rows.

    Each fold computes its own normalization from its fit rows, as the final
    model does from all training rows. Folds are stratified by label and
    shuffled with ``options.seed``.
    """
    quiet = dataclasses.replace(options, log_every_epochs=0)
    out_of_fold = np.zeros(len(labels), dtype=np.float64)
    held_out = []
    curves = []
    for fit_rows, held_rows in data.kfold_indices(labels, folds, options.seed):
        normalization = data.Normalization.fit(raw_features[fit_rows])
        x_fit = normalization.apply(raw_features[fit_rows])
        x_held = normalization.apply(raw_features[held_rows])
        result = trainer.train_model(
            strategy,
            x_fit,
            labels[fit_rows],
            quiet,
            eval_sets={"validation": (x_held, labels[held_rows])},
        )
        logits = x_held.astype(np.float64) @ result.weights[:, 0] + result.bias
        out_of_fold[held_rows] = metrics.sigmoid(logits)
        held_out.append(held_rows)
        curves.append([record["validation_log_loss"] for record in result.history])
    return CrossValidation(
        options=options,
        labels=np.asarray(labels),
        held_out_rows=held_out,
        out_of_fold_probabilities=out_of_fold,
        mean_validation_log_loss=np.mean(curves, axis=0).tolist(),
    )


def select_options(
    strategy: tf.distribute.Strategy,
    raw_features: np.ndarray,
    labels: np.ndarray,
    options: trainer.TrainOptions,
    folds: int,
    threshold: float,
    learning_rates: tuple[float, ...] = LEARNING_RATE_GRID,
    l2_values: tuple[float, ...] = L2_GRID,
) -> tuple[trainer.TrainOptions, list[dict]]:
    """Choose learning rate, L2 strength and epoch count by k-fold CV.

    Every (learning rate, L2) pair trains ``options.epochs`` epochs a fold.
    Its score is the lowest mean held-out log loss over epochs, reached at
    its best epoch (early stopping). Returns the options of the pair with
    the lowest score, with ``epochs`` set to its best epoch, and one dict of
    scores a pair. Ties go to the larger L2 strength, then the smaller
    learning rate.
    """
    candidates = []
    for learning_rate, l2 in itertools.product(learning_rates, l2_values):
        run = cross_validate(
            strategy,
            raw_features,
            labels,
            dataclasses.replace(options, learning_rate=learning_rate, l2=l2),
            folds,
        )
        scores = run.summary(threshold)
        del scores["per_fold"]
        scores["best_epoch"] = run.best_epoch()
        scores["best_epoch_log_loss_mean"] = min(run.mean_validation_log_loss)
        _LOGGER.info(
            "CV learning rate %g, l2 %g: best epoch %d, mean held-out log loss "
            "%.4f there, %.4f at epoch %d",
            learning_rate,
            l2,
            scores["best_epoch"],
            scores["best_epoch_log_loss_mean"],
            scores["log_loss_mean"],
            options.epochs,
        )
        candidates.append(scores)
    best = min(
        candidates,
        key=lambda s: (s["best_epoch_log_loss_mean"], -s["l2"], s["learning_rate"]),
    )
    chosen = dataclasses.replace(
        options,
        learning_rate=best["learning_rate"],
        l2=best["l2"],
        epochs=best["best_epoch"],
    )
    _LOGGER.info(
        "CV chose learning rate %g, l2 %g, %d epochs",
        chosen.learning_rate,
        chosen.l2,
        chosen.epochs,
    )
    return chosen, candidates


def max_threshold_for_false_negative_rate(
    labels: np.ndarray, probabilities: np.ndarray, max_false_negative_rate: float
) -> float:
    """Return the highest threshold whose false negative rate is <= the limit.

    A row is predicted malignant when its probability is >= the threshold,
    so a malignant row is missed when its probability is below it. With P
    malignant rows, at most floor(limit * P) may be missed. The threshold is
    therefore the probability of the malignant row ranked just above that
    many, in increasing order. With no malignant rows it returns 1.0.
    """
    positives = np.sort(np.asarray(probabilities, np.float64)[labels == 1])
    if len(positives) == 0:
        return 1.0
    # The small tolerance keeps e.g. 0.1 * 30 from flooring to 2.
    allowed_misses = int(np.floor(max_false_negative_rate * len(positives) + 1e-9))
    if allowed_misses >= len(positives):
        return 1.0
    return float(positives[allowed_misses])
