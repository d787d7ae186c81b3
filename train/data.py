"""Train/test split, feature normalization and k-fold indices."""

import dataclasses
import math

import numpy as np
import pandas as pd

from wdbc import schema
from wdbc.dataset import DataError

# The split of the TensorFlow guide "Logistic regression for binary
# classification with Core APIs": 75% of rows for training, sampled with
# pandas' random_state=1; on the 569 UCI rows that is 427 train, 142 test.
TRAIN_FRACTION = 0.75
SPLIT_RANDOM_STATE = 1


# Smallest standard deviation used as is by Normalization.fit.
_MIN_STD = float(np.finfo(np.float32).tiny)


def split_train_test(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test) rows, split as in the TensorFlow guide."""
    train = frame.sample(frac=TRAIN_FRACTION, random_state=SPLIT_RANDOM_STATE)
    test = frame.drop(train.index)
    return train, test


def min_rows_for_split(folds: int) -> int:
    """Return the fewest labeled rows that leave every fold two or more rows."""
    train_rows = max(2, 2 * folds)
    return math.ceil(train_rows / TRAIN_FRACTION) + 1


def check_class_counts(
    path: str, train: pd.DataFrame, test: pd.DataFrame, folds: int
) -> None:
    """Raise DataError unless both splits and every CV fold can hold both classes.

    Log loss, ROC AUC and the threshold rules need malignant and benign rows
    in the training and the test split. Stratified k-fold deals each class's
    training rows into ``folds`` parts, so every held-out fold gets both
    classes only when the training split has at least ``folds`` rows of each.
    """
    names = {schema.MALIGNANT: "malignant", schema.BENIGN: "benign"}
    for split_name, rows in (("training", train), ("test", test)):
        counts = rows[schema.LABEL_COLUMN].value_counts()
        for label, name in names.items():
            if counts.get(label, 0) == 0:
                raise DataError(
                    f"{path}: the {split_name} split has no {name} "
                    f"({label}) rows ({_count_text(counts)} of {len(rows)} rows); "
                    "both splits need rows of each class, so supply a file with "
                    "more rows of each class"
                )
    if not folds:
        return
    counts = train[schema.LABEL_COLUMN].value_counts()
    for label, name in names.items():
        found = int(counts.get(label, 0))
        if found < folds:
            smaller = f"--folds {found} or smaller, or " if found >= 2 else ""
            raise DataError(
                f"{path}: --folds {folds} needs at least {folds} {name} ({label}) "
                f"rows in the training split, found {found}; pass {smaller}"
                "--folds 0 to skip cross-validation"
            )


def _count_text(counts: pd.Series) -> str:
    return ", ".join(
        f"{int(counts.get(label, 0))} {label}"
        for label in (schema.MALIGNANT, schema.BENIGN)
    )


def features_of(frame: pd.DataFrame) -> np.ndarray:
    """Return the feature matrix [rows, 30] as float32 in schema order."""
    return frame.loc[:, list(schema.FEATURE_NAMES)].to_numpy(dtype=np.float32)


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """Return labels as float32: 1 for malignant, 0 for benign."""
    return (frame[schema.LABEL_COLUMN] == schema.MALIGNANT).to_numpy(np.float32)


@dataclasses.dataclass(frozen=True)
class Normalization:
    """Per-feature mean and standard deviation, both float32 [30]."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> "Normalization":
        """Compute the statistics of ``features`` (population std, ddof=0).

        A feature whose std is below the smallest normal float32 (about
        1.2e-38) gets std 1, so it maps to about 0. This covers a constant
        feature (std 0) and a std that float32 would round to 0, because
        either would divide by zero in the export's float32 arithmetic.
        """
        values = np.asarray(features, dtype=np.float64)
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        std = np.where(std >= _MIN_STD, std, 1.0)
        return cls(mean=mean.astype(np.float32), std=std.astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Return (features - mean) / std in float32, as the export computes it."""
        values = np.asarray(features, dtype=np.float32)
        return (values - self.mean) / self.std


def check_normalized(
    path: str, normalization: Normalization, splits: dict[str, pd.DataFrame]
) -> None:
    """Raise DataError naming the first value whose normalized value is not finite.

    Values inside the float32 range can still overflow in the export's
    float32 ``(x - mean) / std``, for example 3e38 in a column whose mean is
    -3e38. Row numbers count data rows from 1, as the loader's messages do.
    """
    for split_name, rows in splits.items():
        with np.errstate(over="ignore", invalid="ignore"):
            normalized = normalization.apply(features_of(rows))
        bad = np.argwhere(~np.isfinite(normalized))
        if len(bad) == 0:
            continue
        position, column = bad[0]
        name = schema.FEATURE_NAMES[column]
        value = float(rows[name].iloc[position])
        row_number = rows.index[position] + 1
        raise DataError(
            f"{path}: row {row_number}: value {value!r} for {name} overflows "
            f"float32 when normalized with the training rows' mean "
            f"{normalization.mean[column]:.6g} and std "
            f"{normalization.std[column]:.6g} ({len(bad)} such values in the "
            f"{split_name} split); rescale the column or remove the outlier"
        )


def kfold_indices(
    labels: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return stratified (fit, held-out) row positions for each fold.

    Each class's rows are shuffled with ``seed`` and dealt into ``folds``
    parts, so every fold has about the same share of malignant rows. Fold
    sizes differ by at most one row a class.
    """
    labels = np.asarray(labels)
    if folds < 2 or folds > len(labels):
        raise ValueError(f"invalid fold count {folds}; expected 2 to {len(labels)}")
    rng = np.random.default_rng(seed)
    held_out_parts = [[] for _ in range(folds)]
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        for index, part in enumerate(np.array_split(members, folds)):
            held_out_parts[index].append(part)
    splits = []
    all_rows = np.arange(len(labels))
    for parts in held_out_parts:
        held_out = np.sort(np.concatenate(parts))
        fit = np.setdiff1d(all_rows, held_out)
        splits.append((fit, held_out))
    return splits
