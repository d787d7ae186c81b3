"""Error handling for paths opened through Beam's FileSystems, such as gs://.

Training and scoring read and write every file through
``apache_beam.io.filesystems.FileSystems``, so a ``gs://`` path goes through
Beam's GCS file system and google-cloud-storage, never through TensorFlow's
own GCS client.
"""

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from google.api_core.exceptions import GoogleAPIError

GCS_SCHEME = "gs"

# Errors that FileSystems.open raises for a file that cannot be read. Beam
# 2.77's GCS file system raises google.api_core errors, which are not
# OSErrors, such as NotFound for a missing object or bucket.
READ_ERRORS = (OSError, GoogleAPIError)


def is_remote(path: str) -> bool:
    """Return whether ``path`` has a scheme such as ``gs://``."""
    return FileSystems.get_scheme(path) is not None


def missing_bucket(path: str) -> str | None:
    """Return ``gs://BUCKET`` when ``path`` is in a bucket that does not exist.

    Returns None for paths outside Cloud Storage, for a bucket that exists,
    and when the look-up itself fails (for example without the
    ``storage.buckets.get`` permission), so that the caller reports its own
    error instead. Callers use it only after an operation on ``path`` failed,
    because a job may read and write objects without that permission.
    """
    if FileSystems.get_scheme(path) != GCS_SCHEME:
        return None
    from apache_beam.io.gcp import gcsio

    bucket_name = path[len("gs://") :].split("/", 1)[0]
    if not bucket_name:
        return None
    try:
        bucket = gcsio.GcsIO().get_bucket(bucket_name)
    except (GoogleAPIError, ValueError):
        return None
    if bucket is None:
        return f"gs://{bucket_name}"
    return None


def missing_bucket_message(path: str) -> str | None:
    """Return an error message when ``path`` is in a missing bucket, else None.

    Like ``missing_bucket``, call it only after an operation on ``path`` failed.
    """
    bucket = missing_bucket(path)
    if bucket is None:
        return None
    return f"bucket {bucket} does not exist; check the path or create the bucket"


def folder_listing_problem(folder: str) -> str | None:
    """Return why the remote ``folder`` cannot be listed, or None if it can.

    Listing needs no write permission, so a folder that passes may still
    fail on its first write.
    """
    try:
        FileSystems.match([FileSystems.join(folder, "*")], limits=[1])
    except BeamIOError as error:
        return missing_bucket_message(folder) or f"cannot be listed: {error}"
    return None
