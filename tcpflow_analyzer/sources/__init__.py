"""Frame sources: capture files (:mod:`.pcapfile`) and live interfaces (:mod:`.live`).

Both produce the same thing, ``(frame_no, ts, linktype, bytes)`` tuples, so that everything
after capture is shared between ``analyze`` and ``sniff``.
"""
