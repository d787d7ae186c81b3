"""Names that training, the export and the scoring pipeline must agree on."""

import re

# The ten nucleus measurements, in the order of the UCI file.
MEASUREMENTS = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave_points",
    "symmetry",
    "fractal_dimension",
)

# The UCI file lists all ten means, then all ten standard errors, then all ten
# "worst" values (the mean of the three largest).
STATISTICS = ("mean", "se", "worst")

FEATURE_NAMES = tuple(f"{m}_{s}" for s in STATISTICS for m in MEASUREMENTS)
NUM_FEATURES = len(FEATURE_NAMES)

ID_COLUMN = "id"
LABEL_COLUMN = "diagnosis"
MALIGNANT = "M"
BENIGN = "B"

# Headerless UCI layout: id, diagnosis, then the 30 features.
UCI_COLUMNS = (ID_COLUMN, LABEL_COLUMN) + FEATURE_NAMES

# The exported SavedModel's serving signature.
SIGNATURE_KEY = "serving_default"
INPUT_KEY = "features"
# The largest magnitude of the float32 input; beyond it a value is infinite.
FLOAT32_MAX = 3.4028234663852886e38
PROBABILITY_KEY = "probability"
CLASS_KEY = "predicted_class"

# Export metadata, readable without loading TensorFlow. The path is relative
# to a version folder; TensorFlow Serving ignores assets.extra.
METADATA_RELPATH = "assets.extra/wdbc_model.json"
# Value of the metadata's "format" key that marks an export of this project.
EXPORT_FORMAT = "wdbc-logistic-regression"

# Columns of each scored row.
MODEL_VERSION_COLUMN = "model_version"
OUTPUT_COLUMNS = (ID_COLUMN, PROBABILITY_KEY, CLASS_KEY, MODEL_VERSION_COLUMN)

_SEPARATORS = re.compile(r"[\s_]+")


def normalize_column_name(name: str) -> str:
    """Map a header name to its canonical form.

    Case, surrounding whitespace and runs of spaces or underscores are
    ignored, so "Concave Points_Mean" and "concave_points_mean" match.
    """
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")
