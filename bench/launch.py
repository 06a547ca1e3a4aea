"""Run one command and print its own wall time and peak RSS as JSON: `python -m bench.launch CMD`.

On Linux a forked child starts with its parent's resident pages counted as its own, so the peak
RSS that `wait4` reports for a child of the benchmark runner (which has generated a scenario of
gigabytes) is the runner's high-water mark, not the measured command's. This launcher is a small
process: the command forked from it inherits only the launcher's few MiB, and the launcher's
`wait4` gives the command's own peak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    command = sys.argv[1:]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "exit": os.waitstatus_to_exitcode(status),
                "seconds": elapsed,
                "rss_kib": usage.ru_maxrss,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )
    )


if __name__ == "__main__":
    main()
