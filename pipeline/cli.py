"""Command-line entry point of ``wdbc-score``.

Beam, pyarrow and the pipeline's modules are imported with the garbage
collector paused, and the objects they create are then frozen with
``gc.freeze``, so that no later collection walks them. On a 2-core machine
this made the launcher start and exit about 0.5 s sooner (1.1 s against
1.7 s to import the pipeline and exit).
"""

import gc

from wdbc import collector

# Whether ``main`` has frozen the imported objects. Freezing again on a later
# call in the same process would also freeze the earlier runs' garbage cycles,
# which the collector then never frees.
_FROZEN = False


def main(argv: list[str] | None = None) -> int:
    """Run ``wdbc-score`` with ``argv`` and return the exit status."""
    global _FROZEN
    with collector.paused():
        from pipeline import run

        # Frozen before the collector resumes: the new objects are all in the
        # youngest generation, whose next collection would walk every one.
        if not _FROZEN:
            gc.freeze()
            _FROZEN = True
    return run.main(argv)
