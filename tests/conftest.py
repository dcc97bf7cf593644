"""Shared fixtures for the black-box tests: they drive the real `citadel` binary.

CITADEL_BUILD selects the build directory (default: build), so the same tests run against
the sanitizer build too."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / os.environ.get("CITADEL_BUILD", "build")
CITADEL = BUILD / "citadel"
ATTACK = BUILD / "tests" / "attack"


def citadel_run(args, *, input=None, timeout=60, env=None):
    """Runs `citadel run ARGS`, returning the CompletedProcess (bytes)."""
    return subprocess.run([str(CITADEL), "run", *args], input=input, capture_output=True,
                          timeout=timeout, env=env if env is not None else {"PATH": os.environ["PATH"]})


@pytest.fixture(scope="session")
def citadel():
    if not CITADEL.exists():
        pytest.fail(f"{CITADEL} is missing: run make first")
    return citadel_run


@pytest.fixture(scope="session")
def attack():
    """Arguments that bind the static attack helper at /attack inside a sandbox (a new
    mount point must be on the writable parts of the root: /opt is a read-only bind)."""
    if not ATTACK.exists():
        pytest.fail(f"{ATTACK} is missing: run make first")
    return ["--ro", f"{ATTACK}:/attack"]
