"""Shared test set-up: optional capabilities that skip locally but are required in CI.

``MGSTORE_REQUIRE`` (set by .ci/run) lists capabilities that must be present: ``tf``,
``postgres``, ``protoc``. A test that needs a listed capability fails instead of skipping
when it is missing, so nothing can silently skip in CI.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

REQUIRED = {c.strip() for c in os.environ.get("MGSTORE_REQUIRE", "").split(",") if c.strip()}


def need(capability: str, available: bool, why: str) -> None:
    """Skip (or, when CI requires the capability, fail) a test whose capability is missing."""
    if available:
        return
    if capability in REQUIRED:
        pytest.fail(f"{capability} is required here (MGSTORE_REQUIRE) but {why}", pytrace=False)
    pytest.skip(f"{why}; install it to run this test (see README)")


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="session")
def tf():  # type: ignore[no-untyped-def]
    """TensorFlow, imported once per session (slow: about 3 s)."""
    need("tf", _has_module("tensorflow"), "TensorFlow is not installed")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def protoc():  # type: ignore[no-untyped-def]
    need("protoc", _has_module("grpc_tools"), "grpcio-tools (the dev extra) is not installed")
    from grpc_tools import protoc as module

    return module
