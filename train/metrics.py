"""Whole-set classification metrics in numpy, computed from probabilities."""

import numpy as np

# Probabilities are clipped to [EPSILON, 1 - EPSILON] before the log, so a
# confident wrong answer costs a large but finite loss.
EPSILON = 1e-7


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Return 1 / (1 + exp(-logits)) without overflow."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Return the mean binary cross-entropy over all rows."""
    labels = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def predict_classes(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Return 1 where probability >= threshold, else 0 (int64)."""
    return (np.asarray(probabilities) >= threshold).astype(np.int64)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Return counts [[TN, FP], [FN, TP]]: rows are true class 0 and 1."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Return the area under the ROC curve, with ties counted as one half.

    This is the Mann-Whitney U statistic divided by positives * negatives.
    Returns NaN when only one class is present.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(probabilities, dtype=np.float64)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average rank (1-based) for each run of tied scores.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    rank_sum = ranks[labels].sum()
    u_statistic = rank_sum - positives * (positives + 1) / 2.0
    return float(u_statistic / (positives * negatives))


def roc_curve(labels: np.ndarray, probabilities: np.ndarray):
    """Return (false positive rates, true positive rates, thresholds).

    Thresholds are the distinct scores in decreasing order, preceded by
    +inf; point i predicts positive for score >= thresholds[i].
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
    positives = max(int(labels.sum()), 1)
    negatives = max(len(labels) - int(labels.sum()), 1)
    tpr = np.array([(scores[labels] >= t).sum() / positives for t in thresholds])
    fpr = np.array([(scores[~labels] >= t).sum() / negatives for t in thresholds])
    return fpr, tpr, thresholds


def precision_recall_curve(labels: np.ndarray, probabilities: np.ndarray):
    """Return (precision, recall, thresholds) over the distinct scores.

    Point i predicts positive for score >= thresholds[i]; thresholds run from
    the highest score down, so recall increases along the arrays.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.unique(scores)[::-1]
    positives = max(int(labels.sum()), 1)
    precision, recall = [], []
    for threshold in thresholds:
        predicted = scores >= threshold
        true_positives = int((predicted & labels).sum())
        precision.append(true_positives / max(int(predicted.sum()), 1))
        recall.append(true_positives / positives)
    return np.array(precision), np.array(recall), thresholds


def classification_report(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict:
    """Return whole-set metrics at ``threshold`` as JSON-ready values.

    Keys: accuracy, log_loss, roc_auc, precision, recall,
    false_positive_rate, false_negative_rate, confusion_matrix (counts
    [[TN, FP], [FN, TP]]) and confusion_matrix_normalized (each row divided
    by its true-class count). A rate whose denominator is zero is None.
    """
    labels = np.asarray(labels).astype(np.int64)
    predicted = predict_classes(probabilities, threshold)
    matrix = confusion_matrix(labels, predicted)
    (tn, fp), (fn, tp) = matrix.tolist()
    row_totals = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(
        matrix, row_totals, out=np.zeros((2, 2)), where=row_totals > 0
    )
    auc = roc_auc(labels, probabilities)
    return {
        "accuracy": (tp + tn) / len(labels),
        "log_loss": log_loss(labels, probabilities),
        "roc_auc": None if np.isnan(auc) else auc,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_normalized": normalized.tolist(),
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
