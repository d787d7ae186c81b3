"""Helpers for translating the scoring job for Dataflow without submitting it.

Beam's ``--dry_run=True`` makes DataflowRunner build the job, including its
staged artifacts, and return before it creates a Dataflow client or uploads
anything. Beam 2.77 still tries to create a default bucket, over the network,
when neither ``--temp_location`` nor ``--staging_location`` is a valid gs://
path, so ``TEMP_LOCATION`` must stay one.
"""

import ipaddress
import socket

from apache_beam.portability.api import beam_runner_api_pb2

PROJECT = "wdbc-test"
REGION = "us-central1"
TEMP_LOCATION = "gs://wdbc-test-bucket/temp"
JOB_NAME = "wdbc-score-dry-run"
# The top-level transforms of pipeline/graph.py. Dataflow matches steps by
# these labels when a job is updated, so renaming one is a breaking change.
STEP_LABELS = (
    "ListShards",
    "SpreadShards",
    "ReadShards",
    "ScoreBatches",
    "FlattenRejected",
    "WriteScored",
    "WriteRejected",
    "SummarizeDrift",
    "CountReasons",
    "WriteSummary",
)


def dataflow_args(*extra: str) -> list[str]:
    """Return Beam arguments for a Dataflow dry run with a fake project."""
    return [
        "--runner",
        "DataflowRunner",
        "--project",
        PROJECT,
        "--region",
        REGION,
        "--temp_location",
        TEMP_LOCATION,
        "--job_name",
        JOB_NAME,
        "--dry_run=True",
        *extra,
    ]


class NetworkAccessError(BaseException):
    """A test tried to reach a host other than loopback.

    Derived from BaseException so that client libraries' retry loops, which
    catch Exception, do not swallow it.
    """


def _is_loopback(host) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def block_network(monkeypatch) -> list:
    """Make name lookups and connections to non-loopback hosts raise.

    Returns the list that records each blocked host.
    """
    blocked = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            blocked.append(host)
            raise NetworkAccessError(f"name lookup of {host} during a dry run")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(host):
            blocked.append(host)
            raise NetworkAccessError(f"connection to {host} during a dry run")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return blocked


def top_level_labels(job) -> list[str]:
    """Return the labels of the pipeline's top-level transforms, in order."""
    proto = job.proto_pipeline
    transforms = proto.components.transforms
    labels = []
    for root_id in proto.root_transform_ids:
        root = transforms[root_id]
        labels.extend(transforms[child].unique_name for child in root.subtransforms)
    return labels


def environments(job) -> dict:
    """Map each environment id of the job to its container image and artifacts.

    Artifacts map the name a file is staged under to its local path.
    """
    result = {}
    for env_id, env in job.proto_pipeline.components.environments.items():
        docker = beam_runner_api_pb2.DockerPayload.FromString(env.payload)
        artifacts = {}
        for dependency in env.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
                dependency.role_payload
            )
            file = beam_runner_api_pb2.ArtifactFilePayload.FromString(
                dependency.type_payload
            )
            artifacts[role.staged_name] = file.path
        result[env_id] = (docker.container_image, artifacts)
    return result
