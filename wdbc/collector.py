"""Control of Python's cyclic garbage collector around large imports."""

import contextlib
import gc
import threading

# Names passed as ``freeze_once_as`` whose freeze has run in this process.
_FROZEN_NAMES: set[str] = set()
_FREEZE_LOCK = threading.Lock()


@contextlib.contextmanager
def paused(freeze_once_as: str | None = None):
    """Pause the cyclic garbage collector, then restore its earlier state.

    Imports of large packages allocate hundreds of thousands of objects that
    live as long as the process, and each allocation burst triggers full
    collections that find almost nothing to free.

    With ``freeze_once_as``, a block that ends without an exception freezes the
    live objects with ``gc.freeze`` before the collector resumes, the first
    time that name is passed in the process. Freezing first matters because
    the new objects are all in the youngest generation, whose next collection
    would walk every one (0.17 s after a model load). Freezing only once keeps
    later runs' garbage cycles out of the frozen set, where they would never
    be freed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze_once_as is not None:
            with _FREEZE_LOCK:
                if freeze_once_as not in _FROZEN_NAMES:
                    gc.freeze()
                    _FROZEN_NAMES.add(freeze_once_as)
    finally:
        if was_enabled:
            gc.enable()
