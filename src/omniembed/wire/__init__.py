"""Wire formats as plain functions (no FastAPI, no HTTP client): what the server, the in-process
:class:`~omniembed.Client` and the framework adapters share.

* :mod:`omniembed.wire.gemini` — Gemini's embedding JSON: contents, requests, responses and errors, both
  directions. The server's Gemini dialect parses with it, ``Client`` reads google-genai dicts with it,
  the adapters' server mode writes requests and reads answers and errors with it.
"""
