"""Peak resident memory of this process, in MB.

VmHWM from /proc/self/status: the high-water mark of this process's own address space, reset by exec.
`getrusage().ru_maxrss` is kept across exec, so a child started by a big parent may report the parent's size.
"""

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
