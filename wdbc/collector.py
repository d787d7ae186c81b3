"""Control of Python's cyclic garbage collector around large imports."""

import contextlib
import gc


@contextlib.contextmanager
def paused():
    """Pause the cyclic garbage collector, then restore its earlier state.

    Imports of large packages allocate hundreds of thousands of objects that
    live as long as the process, and each allocation burst triggers full
    collections that find almost nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
