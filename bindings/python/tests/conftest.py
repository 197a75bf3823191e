"""Fixtures: a shared practice for read-only tests, a fresh one for tests
that change the grant or the server."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from world import SECRET, World  # noqa: E402

import vap  # noqa: E402

# Text that must never appear in an exception: the client secret, and the
# shapes of a JWT access/id token and of OpenEMR's refresh tokens.
FORBIDDEN = (SECRET, "eyJ", "def502")


def assert_clean(e: BaseException) -> None:
    for text in (str(e), repr(e), getattr(e, "oauth_error", "")):
        for bad in FORBIDDEN:
            assert bad not in text, f"{type(e).__name__} carries a secret: {text!r}"


@pytest.fixture(scope="session")
def world():
    w = World().start()
    yield w
    w.stop()


@pytest.fixture
def fresh():
    w = World().start()
    yield w
    w.stop()


@pytest.fixture
def emr(world):
    with vap.open(world.conf) as inst:
        yield inst


@pytest.fixture
def fresh_emr(fresh):
    with vap.open(fresh.conf) as inst:
        yield inst
