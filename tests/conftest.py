"""Shared fixtures. The engine's models load once per test session (they are process-wide)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EVAL_DEV = ROOT.parent / "shared" / "eval-dev"


@pytest.fixture(scope="session")
def embedder():
    from omniembed import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def dummy_embedder():
    """The dummy profile in-process (encoders/dummy.py): what a ``ServerProcess(..., dummy=True)`` computes."""
    from omniembed import Embedder

    return Embedder("dummy")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed; run scripts/setup.sh (make test does)")
    return path
