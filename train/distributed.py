"""Device setup and the ``tf.distribute.MirroredStrategy`` used for training."""

import logging

import tensorflow as tf

_LOGGER = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """The requested device layout cannot be set up in this process."""


def configure_cpu_devices(count: int) -> None:
    """Split the host CPU into ``count`` logical devices.

    TensorFlow fixes its logical devices when it first initializes them, so
    this must run before any op, dataset or strategy is created. A process
    that already initialized them raises DeviceError.
    """
    if count < 1:
        raise DeviceError(f"invalid CPU device count {count}; expected 1 or more")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        raise DeviceError(
            f"cannot split the CPU into {count} logical devices because "
            f"TensorFlow already initialized its devices ({error}); configure "
            "devices before running any TensorFlow op"
        ) from error


def select_devices(requested: list[str] | None = None) -> list[str]:
    """Return the device names to mirror across.

    Without ``requested``: every visible GPU, else every logical CPU. With
    it, each name must be a visible logical device (for example
    ``/device:CPU:1`` or ``GPU:0``).
    """
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    if not requested:
        return gpus or cpus
    known = {_short_name(name): name for name in gpus + cpus}
    selected = []
    for name in requested:
        full = known.get(_short_name(name))
        if full is None:
            raise DeviceError(
                f"device {name!r} is not visible; visible devices are "
                f"{', '.join(gpus + cpus)}"
            )
        selected.append(full)
    return selected


def make_strategy(devices: list[str]) -> tf.distribute.MirroredStrategy:
    """Return a MirroredStrategy over ``devices`` and log the replica count."""
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    _LOGGER.info(
        "Training with %d replica(s) on %s",
        strategy.num_replicas_in_sync,
        ", ".join(devices),
    )
    return strategy


def _short_name(name: str) -> str:
    """Map "/job:localhost/replica:0/task:0/device:CPU:1" and "cpu:1" alike."""
    tail = name.rsplit("/", 1)[-1]
    if tail.lower().startswith("device:"):
        tail = tail[len("device:") :]
    return tail.upper()
