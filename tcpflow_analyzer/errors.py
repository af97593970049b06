"""Exception tree for tcpflow-analyzer.

Errors are raised only at the edges (capture sources, CLI wiring); the core (decoder,
tracker, report) never raises on packet data, it counts and reports instead::

    TcpflowError                    base class; carries a one-line message for the user
    ├── CaptureOpenError            the capture cannot be opened or read at all
    ├── CaptureFormatError          the bytes are not a pcap/pcapng capture we can read
    ├── UnsupportedLinkType         a whole capture of a link type we cannot decode
    ├── LiveCaptureError            live sniffing failed (permissions, interface, BPF)
    └── PolicyError                 a `check` policy is invalid (names the line)
"""

from __future__ import annotations

from enum import IntEnum


class TcpflowError(Exception):
    """Base class of every error the tool reports to the user as one line."""


class CaptureOpenError(TcpflowError):
    """The capture file cannot be opened or read (missing, unreadable, a directory)."""


class CaptureFormatError(TcpflowError):
    """The input is not a capture format we understand (bad magic, bad first header)."""


class UnsupportedLinkType(TcpflowError):
    """A capture's only link type is one we cannot decode."""


class LiveCaptureError(TcpflowError):
    """Live capture could not start or failed (not permitted, no interface, bad filter)."""


class PolicyError(TcpflowError):
    """A `check` policy or inline rule is invalid; the message names the offending line."""


class ExitCode(IntEnum):
    """Process exit codes (ruff's convention; a signal gives 128 + its number, as in a shell)."""

    OK = 0
    CHECKS_FAILED = 1
    TOOL_ERROR = 2
    INTERRUPTED = 130  # SIGINT (128 + 2)
    TERMINATED = 143  # SIGTERM (128 + 15)
