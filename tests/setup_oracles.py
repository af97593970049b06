"""Install the external tools the test suite compares against or drives, when missing.

tshark and tcptrace are independent oracles; tcpdump records real kernel traffic and
compiles BPF filters for live capture; iproute2 and nftables build the network namespaces;
headless chromium loads the HTML report in the browser test.
They are Debian packages: installed with apt-get when running as root, otherwise listed so
the tests that need them skip with a clear reason.  Safe to run repeatedly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

TOOLS = {"tshark": "tshark", "tcptrace": "tcptrace", "tcpdump": "tcpdump", "ip": "iproute2",
         "nft": "nftables", "chromium": "chromium"}


def main() -> int:
    """Install missing packages (root + apt-get) or report them."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        print("oracles: all present")
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"oracles: missing {', '.join(missing)} (not root or no apt-get): the tests "
              "that need them will be skipped")
        return 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    # tshark asks whether non-root users may capture; answer no without a prompt
    subprocess.run(["sh", "-c", "echo 'wireshark-common wireshark-common/install-setuid boolean "
                    "false' | debconf-set-selections"], check=False, env=env)
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           *missing], check=False, env=env)
    still = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    print(f"oracles: installed {', '.join(missing)}" if not still
          else f"oracles: could not install {', '.join(still)} (apt-get exit {proc.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
