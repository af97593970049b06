"""tcpflow-analyzer: a precise, readable account of every TCP connection in a capture.

The public API is exactly ``__all__``: read captures (:func:`open_capture`), decode frames
(:class:`Decoder`), run the engine (:class:`Analyzer`, :func:`analyze_captures`,
:func:`analyze_to_report`) with a :class:`TrackerConfig`, and read plain-data reports.
"""

from __future__ import annotations

# first: decides, before any typed module loads, whether the compiled engine runs (_engine.py)
from . import _engine  # noqa: F401
from .anomalies import CATALOGUE, Severity
from .decode import Decoder
from .errors import (
    CaptureFormatError,
    CaptureOpenError,
    ExitCode,
    LiveCaptureError,
    PolicyError,
    TcpflowError,
    UnsupportedLinkType,
)
from .pipeline import Analyzer, CaptureStats, analyze_captures, analyze_to_report
from .report import FlowFilter, build_flow_report, summarize
from .segment import Segment, SynOptions
from .sources.pcapfile import CaptureReader, open_capture
from .states import TcpState
from .tracker import Connection, Endpoint, TrackerConfig

__version__ = "0.1.0"

__all__ = [
    "Analyzer",
    "CATALOGUE",
    "CaptureFormatError",
    "CaptureOpenError",
    "CaptureReader",
    "CaptureStats",
    "Connection",
    "Decoder",
    "Endpoint",
    "ExitCode",
    "FlowFilter",
    "LiveCaptureError",
    "PolicyError",
    "Segment",
    "Severity",
    "SynOptions",
    "TcpState",
    "TcpflowError",
    "TrackerConfig",
    "UnsupportedLinkType",
    "__version__",
    "analyze_captures",
    "analyze_to_report",
    "build_flow_report",
    "open_capture",
    "summarize",
]
