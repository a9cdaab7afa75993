"""Encoders: models that turn decoded media into text or vectors (e5 text, OCR, ASR).

Each loads lazily, once per process, and is shared; each guards its native engine with a lock so the
server's worker threads can share one instance.
"""
