"""Running out of memory while a report is encoded is a MemoryError, never a crash: orjson
does not survive an allocation failure (a segmentation fault), so ``jsonout.dumps`` first
makes room that the encoder then reuses (``report.reserve``: a C malloc/free compiled)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The heap is filled to a 4 MiB address-space cap, a report being encoded between any two
# allocations; the first allocation that fails must be a MemoryError.
_CODE = """
import resource
from tcpflow_analyzer.render.jsonout import dumps
flow = {"k%d" % i: [1.5, "x" * 50, {"a": i}] for i in range(40)}
keep = []
vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + (4 << 20), vm + (4 << 20)))
try:
    while True:
        keep.append(bytearray(1000))
        dumps(flow)
except MemoryError:
    keep.clear()
    print("MemoryError")
"""


def test_encoding_at_the_memory_limit_raises_memory_error_not_a_crash() -> None:
    res = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True,
                         timeout=60, cwd=REPO, check=False)
    assert (res.returncode, res.stdout.strip()) == (0, "MemoryError"), res.stderr
