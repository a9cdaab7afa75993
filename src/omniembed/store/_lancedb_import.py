"""Import LanceDB without its unused REST namespace client (the slowest part of ``import lancedb``).

``lancedb.db`` imports ``lance_namespace``, which imports a few request/response models from the
OpenAPI-generated package ``lance_namespace_urllib3_client``. That package's ``__init__`` eagerly imports
its whole REST client as well — nine ``*_api`` modules, the urllib3 ``ApiClient`` — which a local store
never calls. Measured with ``python -X importtime`` (2 cores): the API modules took 3.8 s of an 8.2 s
``import lancedb`` at load 8 (the issue measured 11 s of 17–41 s under heavier load); with this module
the whole import took 3.8 s where a plain ``import lancedb`` took 6.8 s in the same minute, and 1.74 s
against 3.00 s on a quiet machine (``bench/bench_startup.py``, medians of 5 fresh processes, load 2).

How: before LanceDB is imported, the client *package* is registered with its real spec and search path
but without running its ``__init__``. Submodules (``...models.x``) then import normally — LanceDB gets
the very same classes — and the first access to anything the ``__init__`` would have defined (e.g.
``ApiClient``, used by a REST namespace) runs the real ``__init__`` then, so nothing is lost, only
deferred. If the package is missing, already imported, or laid out differently, nothing is done.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType

__all__ = ["import_lancedb", "defer_namespace_client", "prefetch_lancedb"]

#: The OpenAPI-generated REST client whose package ``__init__`` is deferred.
CLIENT = "lance_namespace_urllib3_client"

_lock = threading.Lock()
_prefetch: threading.Thread | None = None


def defer_namespace_client() -> bool:
    """Register :data:`CLIENT` as a package whose ``__init__`` runs on first attribute access; returns
    whether it did (False: not installed, already imported, or not a package)."""
    if CLIENT in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(CLIENT)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)
    state = {"loaded": False}

    def load_rest(name: str):
        # module-level __getattr__ (PEP 562): called only for names the module does not have yet
        if name.startswith("__") or state["loaded"]:
            raise AttributeError(f"module {CLIENT!r} has no attribute {name!r}")
        state["loaded"] = True
        del module.__getattr__
        spec.loader.exec_module(module)  # the real __init__, in the same module object
        return getattr(module, name)

    module.__getattr__ = load_rest  # type: ignore[attr-defined]
    sys.modules[CLIENT] = module
    return True


def import_lancedb() -> ModuleType:
    """``import lancedb``, with :func:`defer_namespace_client` first (once per process)."""
    if _prefetch is not None and _prefetch is not threading.current_thread():
        _prefetch.join()  # never import concurrently with the prefetch thread: wait for it
    with _lock:
        if "lancedb" not in sys.modules:
            defer_namespace_client()
    import lancedb

    return lancedb


def prefetch_lancedb() -> None:
    """Start importing LanceDB in a background thread (e.g. while a query is being embedded), so a
    later :func:`import_lancedb` finds it loaded; does nothing if it is loaded or being loaded."""
    global _prefetch
    if "lancedb" in sys.modules or _prefetch is not None:
        return

    def run() -> None:
        try:
            import_lancedb()
        except Exception:  # noqa: BLE001 — the foreground import reports the same error properly
            pass

    # not a daemon: Python ends daemon threads at exit with pthread_exit, and one still inside
    # LanceDB's native import then aborts the process ("FATAL: exception not rethrown", exit -6: seen
    # when `omniembed search` refused a store at once under load); the interpreter waits for it instead
    _prefetch = threading.Thread(target=run, name="omniembed-lancedb-import", daemon=False)
    _prefetch.start()
