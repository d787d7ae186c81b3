"""Run one command and print its wall time and peak memory as JSON.

Usage::

    python benchmarks/peak_rss.py RESULT_JSON -- COMMAND [ARG ...]

Writes one JSON object to ``RESULT_JSON``:

- ``wall_seconds``: time from start to exit of the command;
- ``max_rss_kib``: ``ru_maxrss`` of ``RUSAGE_CHILDREN``, the peak resident
  set of the largest single process in the command's tree (Linux reports KiB);
- ``peak_tree_rss_kib``: the largest sum of ``VmRSS`` over the command and
  all its descendants, sampled every ``SAMPLE_SECONDS``, so it counts the
  worker processes of a multi-process run together;
- ``cpu_seconds``: user plus system CPU time of the command's tree, which
  other load on a shared machine disturbs less than the wall time;
- ``returncode``.

``RUSAGE_CHILDREN`` is a maximum over every child this process has waited
for, so each measured case needs its own run of this wrapper.
"""

import json
import os
import resource
import subprocess
import sys
import time

SAMPLE_SECONDS = 0.1


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    """Return the summed ``VmRSS`` of ``root`` and all its descendants."""
    total = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        total += _rss_kib(pid)
        pending.extend(_children(pid))
    return total


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: peak_rss.py RESULT_JSON -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    result_path, argv = argv[0], argv[2:]
    start = time.perf_counter()
    process = subprocess.Popen(argv)
    peak_tree = 0
    while process.poll() is None:
        peak_tree = max(peak_tree, tree_rss_kib(process.pid))
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall_seconds": wall,
        "max_rss_kib": usage.ru_maxrss,
        "peak_tree_rss_kib": peak_tree,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "returncode": process.returncode,
    }
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
