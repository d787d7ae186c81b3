"""Locate, validate and load an exported WDBC model.

The launcher reads only the export's JSON metadata, so it needs no TensorFlow
call to validate ``--model_dir``. Workers load the SavedModel once per process
through ``apache_beam.utils.shared.Shared``.
"""

import json
import logging
import os
import shutil
import tempfile
import threading

import numpy as np
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from wdbc import collector, schema, storage

_LOGGER = logging.getLogger(__name__)

_SAVED_MODEL_FILE = "saved_model.pb"
_COPY_CHUNK_BYTES = 1 << 20

# Number of SavedModel loads in this process, by version folder. Tests read it
# to check that a run loads the model once per worker process.
LOAD_COUNTS: dict[str, int] = {}
_LOAD_LOCK = threading.Lock()


class ModelError(ValueError):
    """The model folder is missing or is not a WDBC export."""


def _join(base: str, *parts: str) -> str:
    return FileSystems.join(base.rstrip("/"), *parts)


def _read_metadata(version_dir: str) -> dict:
    path = _join(version_dir, schema.METADATA_RELPATH)
    try:
        with FileSystems.open(path) as f:
            metadata = json.loads(f.read().decode("utf-8"))
    except (BeamIOError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(
            f"{path} cannot be read as JSON: {e}; re-export the model with wdbc-train."
        ) from e
    if not isinstance(metadata, dict):
        raise ModelError(
            f"{path} is not a JSON object; re-export the model with wdbc-train."
        )
    if metadata.get("format") != schema.EXPORT_FORMAT:
        raise ModelError(
            f"{path} has format {metadata.get('format')!r}, not "
            f"{schema.EXPORT_FORMAT!r}; pass a model exported by wdbc-train."
        )
    missing = [
        key
        for key in ("model_version", "feature_names", "threshold")
        if key not in metadata
    ]
    if missing:
        raise ModelError(
            f"{path} lacks the keys {missing}; re-export the model with wdbc-train."
        )
    if list(metadata["feature_names"]) != list(schema.FEATURE_NAMES):
        raise ModelError(
            f"{path} lists features {metadata['feature_names']}, which differ "
            "from the features this pipeline scores; re-export the model with "
            "this version of wdbc-train."
        )
    saved_model = _join(version_dir, _SAVED_MODEL_FILE)
    try:
        has_saved_model = FileSystems.exists(saved_model)
    except BeamIOError:
        has_saved_model = False
    if not has_saved_model:
        raise ModelError(
            f"{saved_model} is missing, so {version_dir} is not a SavedModel; "
            "pass the model folder written by wdbc-train (OUTPUT_DIR/model)."
        )
    return metadata


def _has_metadata(version_dir: str) -> bool:
    try:
        return FileSystems.exists(_join(version_dir, schema.METADATA_RELPATH))
    except BeamIOError:
        return False


def resolve_export(model_dir: str) -> tuple[str, dict]:
    """Return the version folder to load and its metadata.

    ``model_dir`` may be a version folder itself, or a base folder holding
    numbered versions as TensorFlow Serving lays them out, in which case the
    highest number wins.

    Raises:
      ModelError: no export of ours is found at ``model_dir``.
    """
    model_dir = model_dir.rstrip("/")
    if _has_metadata(model_dir):
        return model_dir, _read_metadata(model_dir)
    pattern = _join(model_dir, "*", schema.METADATA_RELPATH)
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except BeamIOError as e:
        bucket_problem = storage.missing_bucket_message(model_dir)
        if bucket_problem:
            raise ModelError(f"--model_dir {model_dir}: {bucket_problem}.") from e
        if storage.is_remote(model_dir):
            raise ModelError(f"--model_dir {model_dir} cannot be listed: {e}") from e
        matches = []
    suffix = "/" + schema.METADATA_RELPATH
    versions = []
    for match in matches:
        version_dir = match.path[: -len(suffix)]
        name = version_dir.rstrip("/").rsplit("/", 1)[-1]
        if name.isdigit():
            versions.append((int(name), version_dir))
    if not versions:
        raise ModelError(
            f"--model_dir {model_dir} holds no WDBC export: expected "
            f"{schema.METADATA_RELPATH} in it or in a numbered version folder "
            "under it. Pass the model folder written by wdbc-train "
            "(OUTPUT_DIR/model)."
        )
    _, version_dir = max(versions)
    return version_dir, _read_metadata(version_dir)


def _copy_to_local(version_dir: str, local_dir: str) -> None:
    """Copy every file of a remote export into the folder ``local_dir``."""
    prefix = version_dir.rstrip("/") + "/"
    matches = FileSystems.match([prefix + "**"])[0].metadata_list
    copied = 0
    for match in matches:
        relative = match.path[len(prefix) :]
        if not relative or relative.endswith("/"):
            continue
        target = os.path.join(local_dir, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with FileSystems.open(match.path) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
        copied += 1
    _LOGGER.info("Copied %d model files from %s to %s", copied, version_dir, local_dir)


def _use_one_intra_op_thread(tf) -> None:
    """Keep each TensorFlow op on one thread, unless TensorFlow has started.

    The serving function's ops, element-wise ops and a [rows, 30] x [30, 1]
    product, are too small to gain from being split across threads. Split,
    they cost more CPU (about 1.1 ms against 0.9 ms per 8192-row batch on a
    2-core machine), and the pools of several worker processes on one host
    compete for the same cores. Beam's threads and processes give the
    parallelism instead.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:
        # The setting is fixed once TensorFlow's runtime is initialized, as
        # when training ran earlier in this process.
        _LOGGER.info(
            "TensorFlow was initialized before the model load, so its "
            "intra-op thread setting stays as it is"
        )


def _finite_normalization_bounds(
    mean: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-feature bounds within which (x - mean) / std stays finite.

    Within them, both the float32 difference x - mean and the quotient are at
    most about half of the float32 maximum, which leaves a wide margin for
    rounding: |x - mean| is at most min(std, 1) times that half. Values
    outside them may still normalize to finite numbers, so they only decide
    whether the exact check is needed.
    """
    half = schema.FLOAT32_MAX / 2
    mean = mean.astype(np.float64)
    radius = np.minimum(std.astype(np.float64), 1.0) * half
    low = np.maximum(mean - radius, -half)
    high = np.minimum(mean + radius, half)
    return low, high


class LoadedModel:
    """A loaded export: its serving function and metadata."""

    def __init__(self, version_dir: str):
        import tensorflow as tf

        self.version_dir = version_dir
        self.metadata = _read_metadata(version_dir)
        self.model_version = str(self.metadata["model_version"])
        self.threshold = float(self.metadata["threshold"])
        _use_one_intra_op_thread(tf)
        if storage.is_remote(version_dir):
            # TensorFlow's own GCS client would ignore the credentials and
            # endpoint that Beam uses, so the export is copied through Beam's
            # FileSystems. The copy is deleted once loaded: the variables are
            # then in memory and the export has no asset files.
            with tempfile.TemporaryDirectory(prefix="wdbc-model-") as local_dir:
                _copy_to_local(version_dir, local_dir)
                self._saved_model = tf.saved_model.load(local_dir)
        else:
            self._saved_model = tf.saved_model.load(version_dir)
        self._serve = self._saved_model.signatures[schema.SIGNATURE_KEY]
        self._tf = tf
        # The serving function computes (x - mean) / std in float32 with these
        # variables of the export.
        self._mean = self._saved_model.mean.numpy().astype(np.float32)
        self._std = self._saved_model.std.numpy().astype(np.float32)
        self._safe_low, self._safe_high = _finite_normalization_bounds(
            self._mean, self._std
        )

    def normalized_overflow(self, features: np.ndarray) -> np.ndarray | None:
        """Return an [n, 30] mask of the values that normalize to a non-finite.

        The values are normalized in float32 as the serving function does, so
        the mask is set exactly where the model would see an infinity or NaN.
        Returns None without normalizing when the batch is empty or every
        column lies within the bounds of ``_finite_normalization_bounds``, as
        real data does.
        """
        if not len(features):
            return None
        if (features.min(axis=0) >= self._safe_low).all() and (
            features.max(axis=0) <= self._safe_high
        ).all():
            return None
        x = np.asarray(features, dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            return ~np.isfinite((x - self._mean) / self._std)

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return P(malignant) and the predicted class for raw feature rows."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        outputs = self._serve(**{schema.INPUT_KEY: self._tf.constant(x)})
        probability = outputs[schema.PROBABILITY_KEY].numpy().reshape(-1)
        predicted = outputs[schema.CLASS_KEY].numpy().reshape(-1)
        return probability, predicted.astype(np.int64)


def load_model(version_dir: str) -> LoadedModel:
    """Load the export at ``version_dir`` and count the load.

    Importing TensorFlow and loading the export create about 650,000 objects
    that live as long as the process. With the collector running, the import
    triggers many full collections over them, and every later full collection,
    including the one at exit, walks them all. So the collector is paused
    during each load, and the first load in a process freezes the live objects
    with ``gc.freeze``. On a 2-core machine, a process that imported
    TensorFlow, loaded the model and exited took 2.7 s against 3.7 s. The
    first model loaded is frozen too, so it stays in memory until the process
    exits, as a worker's model does anyway.
    """
    with collector.paused(freeze_once_as="model load"):
        model = LoadedModel(version_dir)
    with _LOAD_LOCK:
        LOAD_COUNTS[version_dir] = LOAD_COUNTS.get(version_dir, 0) + 1
    _LOGGER.info("Loaded model version %s from %s", model.model_version, version_dir)
    return model
