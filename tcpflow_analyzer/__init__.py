"""tcpflow-analyzer: a precise, readable account of every TCP connection in a capture."""

from __future__ import annotations

__version__ = "0.1.0"
