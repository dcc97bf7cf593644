"""Shared fixtures for the black-box tests: they drive the real `citadel` binary.

CITADEL_BUILD selects the build directory (default: build), so the same tests run against
the sanitizer build too."""
import glob
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

# Monitors the tests start serve no HTTP unless a test asks (--listen): many run at once,
# and the default port is one. tests/functional/test_http.py starts its own gateways.
os.environ["CITADEL_LISTEN"] = "none"

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


def is_keeper(pid):
    """A warm-pool keeper: `citadel __keeper`, named citadel-keeper (src/sandbox/warm.h);
    its parked sandboxes share its command line but are named citadel-warm."""
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes() == b"citadel\0__keeper\0" and
                Path(f"/proc/{pid}/comm").read_text() == "citadel-keeper\n")
    except OSError:
        return False


def keepers():
    """The warm-pool keepers running now: {pid: executable}."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and is_keeper(entry):
                found[int(entry)] = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            pass
    return found


@pytest.fixture(scope="session", autouse=True)
def stop_what_the_tests_started():
    """A test run stops what it started: the warm-pool keepers its runs started (a
    keeper would otherwise idle for 5 minutes with its parked sandboxes). Only keepers
    that were not running before the session, and that run a citadel of this checkout or
    of the session's temporary directories, are asked to retire (SIGTERM through a
    pidfd, so a reused pid is never signalled)."""
    before = set(keepers())
    yield
    ours = [pid for pid, exe in keepers().items()
            if pid not in before and (exe.startswith(str(ROOT)) or exe.startswith("/tmp/"))]
    fds = []
    for pid in ours:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        if is_keeper(pid):  # still the process found above: the pidfd pins it
            signal.pidfd_send_signal(fd, signal.SIGTERM)
            fds.append((pid, fd))
    deadline = time.monotonic() + 10
    for pid, fd in fds:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.close(fd)

def parked_since(t):
    """Whether a pool's keeper parked a sandbox (a socket under /run/citadel/warm/) at or
    after time t."""
    for sock in glob.glob("/run/citadel/warm/*/*.sock"):
        try:
            if os.lstat(sock).st_mtime >= t:
                return True
        except FileNotFoundError:  # claimed meanwhile
            pass
    return False


@pytest.fixture(scope="module")
def warm_pool(citadel):
    """Starts the pool (its first run is cold, and starts the keeper) and waits, up to 30 s,
    for a parked sandbox. The keeper replaces each claimed one within tens of ms, so the
    runs that follow are served warm."""
    start = time.time() - 1  # file times are coarser than the clock
    run = citadel(["--", "/bin/true"], input=b"")
    assert run.returncode == 0, run.stderr
    for _ in range(300):
        if parked_since(start):
            return
        time.sleep(0.1)
    pytest.fail("no warm sandbox was parked")


def umount_all(paths):
    """Unmounts everything at paths. A keeper making a sandbox of a view holds the mounts
    below it for a moment (EBUSY): each umount is tried for up to 5 s."""
    for path in paths:
        for _ in range(50):
            if subprocess.run(["mountpoint", "-q", str(path)]).returncode != 0:
                break
            if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
                time.sleep(0.1)
        assert subprocess.run(["mountpoint", "-q", str(path)]).returncode != 0, f"{path} is still mounted"
