"""`citadel measure` and `citadel verify` (src/attest/attest.h, docs/attestation.md): a
function's measurements recomputed from its files with no monitor, the monitor's from its
programs, and the checks of a signed report, each failure with its own exit status. The
reports are made here, signed with a key of the test's own (PyNaCl: scripts/deps.sh test)."""
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, CITADEL
from test_monitor import EXAMPLES, Monitor

nacl_signing = pytest.importorskip("nacl.signing", reason="PyNaCl (python3-nacl: scripts/deps.sh test)")

CONTEXT = b"citadel-report/1\n"


def citadel(*args, input=None):
    return subprocess.run([str(CITADEL), *args], input=input, capture_output=True, timeout=60,
                          env={"PATH": os.environ["PATH"]})


def measure(*args):
    """`citadel measure ARGS`: (measurement, code_measurement), checked against --json."""
    r = citadel("measure", *args)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 2 and lines[0].startswith("measurement ") and lines[1].startswith("code_measurement "), lines
    m, cm = lines[0].split()[1], lines[1].split()[1]
    j = citadel("measure", "--json", *args)
    assert j.returncode == 0, j.stderr
    doc = json.loads(j.stdout)
    assert doc["measurement"] == m and doc["code_measurement"] == cm
    assert hashlib.sha256(doc["encoding"].encode()).hexdigest() == m
    return m, cm


def one_line(r):
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---- citadel measure: a function ---------------------------------------------------------

def test_measure_is_deterministic_and_follows_the_code(tmp_path):
    so = tmp_path / "echo.so"
    shutil.copy(EXAMPLES / "echo.so", so)
    first = measure("echo", str(so))
    assert measure("echo", str(so)) == first
    assert measure("another-name", str(so)) == first  # the name is not measured
    with open(so, "ab") as f:  # one byte more: other code
        f.write(b"\0")
    changed = measure("echo", str(so))
    assert changed[0] != first[0] and changed[1] != first[1]


def test_the_limits_change_the_measurement_not_the_code_measurement(tmp_path):
    so = str(EXAMPLES / "echo.so")
    base = measure("echo", so)
    for opts in (["--memory", "64M"], ["--timeout", "2s"], ["--max-instances", "3"]):
        m, cm = measure("echo", so, *opts)
        assert m != base[0], opts
        assert cm == base[1], opts
    m, cm = measure("echo", so, "--env", "K=V")  # the environment is the code's
    assert m != base[0] and cm != base[1]


def test_a_python_source_is_measured(tmp_path):
    py = tmp_path / "h.py"
    py.write_text("def handle(event, context):\n    return event\n")
    first = measure("py", str(py))
    py.write_text("def handle(event, context):\n    return event * 2\n")
    changed = measure("py", str(py))
    assert changed[0] != first[0] and changed[1] != first[1]


def test_an_exec_function_is_measured_by_its_program_and_arguments(tmp_path):
    first = measure("wc", "--", "/usr/bin/wc", "-w")
    other = measure("wc", "--", "/usr/bin/wc", "-l")
    assert other[0] != first[0] and other[1] != first[1]
    prog = tmp_path / "prog.sh"
    prog.write_text("#!/bin/sh\ncat\n")
    prog.chmod(0o755)
    a = measure("p", "--", str(prog))
    prog.write_text("#!/bin/sh\ncat; echo\n")
    b = measure("p", "--", str(prog))
    assert b[0] != a[0] and b[1] != a[1]
    r = citadel("measure", "p", "--", str(tmp_path / "missing"))
    assert r.returncode == 1 and "missing" in one_line(r)
    prog.chmod(0o644)
    r = citadel("measure", "p", "--", str(prog))
    assert r.returncode == 1 and "not an executable file" in one_line(r)


def test_a_bundle_is_measured_by_its_files(tmp_path):
    b = tmp_path / "b"
    (b / "data").mkdir(parents=True)
    (b / "run.sh").write_text("#!/bin/sh\ncat data/x.txt\n")
    (b / "run.sh").chmod(0o755)
    (b / "data" / "x.txt").write_text("one\n")
    first = measure("bx", "--bundle", str(b), "--", "run.sh")
    assert measure("bx", "--bundle", str(b), "--", "run.sh") == first
    (b / "data" / "x.txt").write_text("two\n")  # not the program: a file beside it
    changed = measure("bx", "--bundle", str(b), "--", "run.sh")
    assert changed[0] != first[0] and changed[1] != first[1]
    (b / "handler.py").write_text("def handle(e, c):\n    return e\n")
    py1 = measure("pb", "--runtime", "python", "--bundle", str(b))
    (b / "handler.py").write_text("def handle(e, c):\n    return b'x'\n")
    py2 = measure("pb", "--runtime", "python", "--bundle", str(b))
    assert py1[0] != py2[0] and py1[1] != py2[1]


def test_measure_takes_deploys_arguments_and_says_what_is_wrong(tmp_path):
    r = citadel("measure", "echo")
    assert r.returncode == 2 and r.stderr.decode().startswith("citadel measure: no FILE given")
    r = citadel("measure", "echo", str(EXAMPLES / "echo.so"), "--memory", "3M")
    assert r.returncode == 2 and r.stderr.decode().startswith("citadel measure: --memory")
    r = citadel("measure", "--dir", "/tmp", "echo", str(EXAMPLES / "echo.so"))
    assert r.returncode == 2 and "--dir is for --monitor" in r.stderr.decode()
    r = citadel("measure", "echo", str(tmp_path / "none.so"))
    assert r.returncode == 1 and "none.so" in one_line(r)
    manifest = tmp_path / "f.json"
    manifest.write_text(json.dumps({"name": "echo", "code": str(EXAMPLES / "echo.so"), "memory": "64M"}))
    assert measure("--manifest", str(manifest)) == measure("echo", str(EXAMPLES / "echo.so"), "--memory", "64M")
    h = citadel("measure", "--help")
    assert h.returncode == 0
    for word in ("--monitor", "--dir", "--json", "code_measurement", "citadel deploy"):
        assert word in h.stdout.decode(), word


def test_measure_agrees_with_the_monitor(tmp_path):
    """What `citadel deploy` prints, the monitor's own measurement, is what measure says."""
    m = Monitor(tmp_path).start()
    try:
        b = tmp_path / "b"
        b.mkdir()
        (b / "run.sh").write_text("#!/bin/sh\ncat\n")
        (b / "run.sh").chmod(0o755)
        for args in (["echo", str(EXAMPLES / "echo.so"), "--memory", "64M"],
                     ["wc", "--", "/usr/bin/wc", "-w"],
                     ["bx", "--bundle", str(b), "--", "run.sh"]):
            r = m.cli("deploy", *args)
            assert r.returncode == 0, r.stderr
            assert f"(measurement {measure(*args)[0]})" in r.stdout.decode(), args
    finally:
        m.stop()


# ---- citadel measure --monitor -----------------------------------------------------------

PROGRAMS = ["citadeld", "citadel-zygote", "citadel-python", "citadel-store", "citadel-unpack",
            "citadel-gateway", "citadel-callback"]


def monitor_json(*args):
    r = citadel("measure", "--monitor", "--json", *args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert hashlib.sha256(doc["encoding"].encode()).hexdigest() == doc["measurement"]
    plain = citadel("measure", "--monitor", *args)
    assert plain.stdout.decode() == f"measurement {doc['measurement']}\n"
    return doc


def test_the_monitors_measurement(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for p in PROGRAMS:
        (bindir / p).write_bytes(p.encode())
    doc = monitor_json("--dir", str(bindir))
    names = [c["name"] for c in doc["components"]]
    assert names == PROGRAMS + ["libpython", "python-stdlib"]
    for c in doc["components"][:len(PROGRAMS)]:
        assert c["sha256"] == hashlib.sha256(c["name"].encode()).hexdigest()
    assert doc["encoding"].startswith("citadel-monitor 1\ncitadeld sha256:")
    assert monitor_json("--dir", str(bindir)) == doc
    (bindir / "citadel-zygote").write_bytes(b"another zygote")
    assert monitor_json("--dir", str(bindir))["measurement"] != doc["measurement"]
    (bindir / "citadel-zygote").unlink()
    missing = monitor_json("--dir", str(bindir))
    assert "\ncitadel-zygote missing\n" in missing["encoding"]
    assert [c["sha256"] for c in missing["components"] if c["name"] == "citadel-zygote"] == [None]
    # By default the programs beside this citadel: the build's.
    assert monitor_json()["measurement"] == monitor_json("--dir", str(BUILD))["measurement"]
    r = citadel("measure", "--monitor", "echo")
    assert r.returncode == 2
    # A directory with no citadeld is no Citadel's: refused, not measured as all missing.
    r = citadel("measure", "--monitor", "--dir", str(tmp_path))
    assert r.returncode == 1 and b"has no citadeld" in r.stderr and not r.stdout


# ---- citadel verify ----------------------------------------------------------------------

ENCODING = "citadel-function 1\nruntime native 1\nmemory 268435456\ncode sha256:" + "ab" * 32 + "\n"
MONITOR_M = "11" * 32
NONCE = "00ab" * 8


@pytest.fixture(scope="module")
def keys():
    return nacl_signing.SigningKey.generate(), nacl_signing.SigningKey.generate()


def body_of(key, *, function=True, **over):
    b = {"version": 1, "timestamp": int(time.time()), "nonce": NONCE,
         "monitor": {"measurement": MONITOR_M, "public_key": key.verify_key.encode().hex(),
                     "version": "citadel 0.1.0", "components": []},
         "function": None, "platform": {"type": "none", "detail": "no hardware attestation"}}
    if function:
        b["function"] = {"name": "echo", "runtime": "native", "runtime_version": 1,
                         "measurement": hashlib.sha256(ENCODING.encode()).hexdigest(),
                         "code_measurement": "22" * 32, "encoding": ENCODING, "policy": {}}
        b["sealing_key"] = "33" * 32
    b.update(over)
    return b


def report(body, signer, *, body_text=None):
    text = json.dumps(body, separators=(",", ":"))
    sig = signer.sign(CONTEXT + text.encode()).signature.hex()
    return json.dumps({"format": "citadel-report/1", "body": body_text or text, "signature": sig})


def verify(tmp_path, text, *args):
    path = tmp_path / "report.json"
    path.write_text(text)
    return citadel("verify", str(path), *args)


def fails(r, status, *words):
    assert r.returncode == status, (r.returncode, r.stderr)
    line = one_line(r)
    assert line.startswith("citadel verify: "), line
    for w in words:
        assert w in line, (w, line)
    assert r.stdout == b""


def test_a_good_report_verifies(tmp_path, keys):
    k = keys[0]
    pk = k.verify_key.encode().hex()
    body = body_of(k)
    text = report(body, k)
    m = body["function"]["measurement"]
    r = verify(tmp_path, text, "--key", pk, "--measurement", m, "--monitor-measurement", MONITOR_M,
               "--nonce", NONCE.upper(), "--max-age", "60")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"ok: function echo measurement {m}, monitor {MONITOR_M}, signed by {pk}\n"
    keyfile = tmp_path / "key.txt"  # as `citadel key > key.txt` writes it
    keyfile.write_text(pk + "\n")
    r = citadel("verify", "-", "--key", str(keyfile), input=text.encode())
    assert r.returncode == 0 and r.stdout.startswith(b"ok: function echo"), r.stderr
    r = verify(tmp_path, text, "--key", pk, "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == body
    alone = report(body_of(k, function=False), k)
    r = verify(tmp_path, alone, "--key", pk, "--monitor-measurement", MONITOR_M)
    assert r.returncode == 0 and r.stdout.decode() == f"ok: monitor {MONITOR_M}, signed by {pk}\n"


def test_each_failure_has_its_status(tmp_path, keys):
    k, other = keys
    pk = k.verify_key.encode().hex()
    good = body_of(k)
    m = good["function"]["measurement"]

    # 3: not a report.
    fails(verify(tmp_path, "{not json", "--key", pk), 3, "not JSON")
    fails(verify(tmp_path, json.dumps({"format": "other/1", "body": "{}", "signature": "00" * 64}), "--key", pk),
          3, "format")
    fails(verify(tmp_path, " " * (256 * 1024 + 1), "--key", pk), 3, "256 KiB")
    fails(citadel("verify", str(tmp_path / "none.json"), "--key", pk), 3, "none.json")
    bad_encoding = body_of(k)
    bad_encoding["function"]["encoding"] += "memory 1\n"  # signed, but not what it measures
    fails(verify(tmp_path, report(bad_encoding, k), "--key", pk), 3, "encoding does not hash to its measurement")

    # 4: another's key signed it (and its body says so).
    fails(verify(tmp_path, report(body_of(other), other), "--key", pk), 4, "not the key given")

    # 5: altered after signing, or a body naming our key signed by another.
    text = json.dumps(good, separators=(",", ":"))
    altered = report(good, k, body_text=text.replace('"echo"', '"evil"'))
    fails(verify(tmp_path, altered, "--key", pk), 5, "signature does not match")
    fails(verify(tmp_path, report(good, other), "--key", pk), 5, "signature does not match")

    # 6: the nonce, also a report with none.
    fails(verify(tmp_path, report(good, k), "--key", pk, "--nonce", "ff" * 16), 6, NONCE,
          "a replayed or another's report")
    fails(verify(tmp_path, report(body_of(k, nonce=""), k), "--key", pk, "--nonce", NONCE), 6, "not the one given")

    # 7: the function's measurement, or no function at all.
    fails(verify(tmp_path, report(good, k), "--key", pk, "--measurement", "44" * 32), 7, m)
    fails(verify(tmp_path, report(body_of(k, function=False), k), "--key", pk, "--measurement", m), 7,
          "no function")

    # 8: the monitor's measurement.
    fails(verify(tmp_path, report(good, k), "--key", pk, "--monitor-measurement", "55" * 32), 8, MONITOR_M)

    # 9: too old.
    old = body_of(k, timestamp=int(time.time()) - 3600)
    fails(verify(tmp_path, report(old, k), "--key", pk, "--max-age", "60"), 9, "--max-age 60")
    assert verify(tmp_path, report(old, k), "--key", pk, "--max-age", "7200").returncode == 0

    # The order: the first check that fails decides.
    stale_wrong = body_of(k, timestamp=1, nonce="")
    fails(verify(tmp_path, report(stale_wrong, k), "--key", pk, "--nonce", NONCE, "--measurement", "44" * 32,
                 "--max-age", "1"), 6)
    fails(verify(tmp_path, report(stale_wrong, k), "--key", pk, "--measurement", "44" * 32,
                 "--monitor-measurement", "55" * 32, "--max-age", "1"), 7)
    fails(verify(tmp_path, report(stale_wrong, k), "--key", pk, "--monitor-measurement", "55" * 32,
                 "--max-age", "1"), 8)
    fails(verify(tmp_path, altered, "--key", pk, "--nonce", "ff" * 16), 5)


def test_verify_usage(tmp_path, keys):
    pk = keys[0].verify_key.encode().hex()
    text = report(body_of(keys[0]), keys[0])
    for args in ([], ["--key", pk], [str(tmp_path / "r"), "extra", "--key", pk], [str(tmp_path / "r")],
                 [str(tmp_path / "r"), "--key", "xyz"], [str(tmp_path / "r"), "--key", pk, "--measurement", "12"],
                 [str(tmp_path / "r"), "--key", pk, "--nonce", "abc"],
                 [str(tmp_path / "r"), "--key", pk, "--max-age", "soon"], [str(tmp_path / "r"), "--bogus"]):
        (tmp_path / "r").write_text(text)
        r = citadel("verify", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.decode().startswith("citadel verify: "), (args, r.stderr)
    h = citadel("verify", "--help")
    assert h.returncode == 0
    for status in range(2, 10):
        assert f"\n  {status}  " in h.stdout.decode(), status
