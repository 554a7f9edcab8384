"""The C allocator's settings for the worker process: keep freed memory for the next job.

Each job's thumbnail decodes, shrinks and encodes a few MB of pixels (media/images.py), and
its HTTP bodies are a few hundred KB. With sixteen threads, glibc gives them arenas of their
own and hands an arena's free top back to the kernel as soon as it passes a threshold, so
the next job's buffers were fresh pages again: hundreds of page faults a job, each a zeroed
page, and a large share of the worker's CPU went to the kernel. Fixed high thresholds keep
freed memory in the process, and four arenas bound how much is kept: a few faults a job,
for a little more resident memory (the figures: docs/performance.md).

Set with mallopt(3) when the worker starts, so every way of starting it (the Procfile,
devstack, an operator's own command line) gets them; the web (gevent, one thread, one
arena) does not need them. Elsewhere than glibc there is nothing to set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt(3) parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# Nothing is trimmed below 256 MiB of free top, no allocation under 32 MiB bypasses the
# arenas through mmap (glibc's own ceiling for its sliding threshold), and four arenas.
SETTINGS = {M_TRIM_THRESHOLD: 256 * 1024 * 1024, M_MMAP_THRESHOLD: 32 * 1024 * 1024,
            M_ARENA_MAX: 4}


def keep_freed_memory() -> None:
    """Apply SETTINGS to this process's allocator (where it is glibc's)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.info("allocator: no mallopt here; left as it is")
        return
    refused = [parameter for parameter, value in SETTINGS.items() if mallopt(parameter, value) != 1]
    if refused:
        log.warning("allocator: mallopt refused parameters %s", refused)
