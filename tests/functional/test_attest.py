"""Attestation end to end (docs/attestation.md): the monitor's identity key, the signed
report of a function (`citadel attest`, GET /v1/functions/NAME/attestation), `citadel
verify` against real reports and against every forgery an invoker must catch (a tampered
report, another monitor's key, a wrong or replayed nonce, a mismatched measurement), the
measurements agreeing with `citadel measure` and following the code, and sealed
invocations (`citadel invoke --seal`): the request and the response cross the gateway,
its log and a recording proxy as ciphertext only, and a request sealed for old code does
not open for new code."""
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

import nacl.public
import pytest
from conftest import CITADEL
from test_monitor import EXAMPLES, Monitor
from test_remote import Gateway

MARKER = b"PLAINTEXT-MARKER-7f3a9c"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("attest"))
    g.m.deploy("echo")
    g.key = ok(g.m.cli("key")).decode().strip()
    yield g
    g.m.stop()


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stderr)
    return r.stdout


def measurement_of(out):
    return out.decode().split("(measurement ")[1].split(")")[0]


def report(m, name, nonce=None):
    args = ["attest", name] + (["--nonce", nonce] if nonce else [])
    return ok(m.cli(*args))


def body_of(text):
    return json.loads(json.loads(text)["body"])


def verify(tmp_path, text, *args):
    path = tmp_path / "report.json"
    path.write_bytes(text)
    return subprocess.run([str(CITADEL), "verify", str(path), *args], capture_output=True, timeout=60)


def refused(r, code, says):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    line = r.stderr.decode()
    assert line.startswith("citadel verify: ") and line.count("\n") == 1 and says in line, line
    return line


# ---- the report ------------------------------------------------------------------------------

def test_the_report_says_what_runs_and_verifies(gw, tmp_path):
    nonce = os.urandom(16).hex()
    text = report(gw.m, "echo", nonce)
    b = body_of(text)
    assert b["monitor"]["public_key"] == gw.key
    assert b["nonce"] == nonce and b["version"] == 1 and b["timestamp"] > 0
    fn = b["function"]
    assert fn["name"] == "echo" and fn["runtime"] == "native"
    assert fn["policy"]["memory_bytes"] == 256 << 20 and fn["policy"]["invoke_key"] is False
    assert hashlib.sha256(fn["encoding"].encode()).hexdigest() == fn["measurement"]
    assert fn["measurement"] == gw.m.ls()["echo"]["measurement"]
    assert len(b["sealing_key"]) == 64
    # This machine has no confidential-computing device: the report says so, fakes nothing.
    assert b["platform"]["type"] == "none" and "report" not in b["platform"]
    assert "signed by the monitor's key only" in b["platform"]["detail"]
    # `citadel measure` finds the same from the files alone.
    measured = ok(subprocess.run([str(CITADEL), "measure", "echo", str(EXAMPLES / "echo.so")], capture_output=True,
                                 timeout=60)).decode()
    assert f"measurement {fn['measurement']}" in measured.splitlines()
    assert f"code_measurement {fn['code_measurement']}" in measured.splitlines()
    monitor = ok(subprocess.run([str(CITADEL), "measure", "--monitor"], capture_output=True, timeout=60)).decode()
    assert monitor.split() == ["measurement", b["monitor"]["measurement"]]
    names = [c["name"] for c in b["monitor"]["components"]]
    assert names[:3] == ["citadeld", "citadel-zygote", "citadel-python"] and "python-stdlib" in names
    r = verify(tmp_path, text, "--key", gw.key, "--nonce", nonce, "--measurement", fn["measurement"],
               "--monitor-measurement", b["monitor"]["measurement"], "--max-age", "600")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith(f"ok: function echo measurement {fn['measurement']}")


def test_the_report_over_http_is_the_same_monitors(gw, tmp_path):
    assert ok(gw.cli("key", token=False)).decode().strip() == gw.key
    text = ok(gw.cli("attest", "echo", "--nonce", "abcd", token=False))  # invokers need no token
    assert verify(tmp_path, text, "--key", gw.key, "--nonce", "abcd").returncode == 0
    st, _, body = http(gw, "GET", "/v1/attestation?nonce=00")
    assert st == 200 and body_of(body)["function"] is None and body_of(body)["nonce"] == "00"
    for path, status in (("/v1/functions/echo/attestation?nonce=xyz", 400), ("/v1/functions/echo/attestation?nonce=abc", 400),
                         ("/v1/functions/echo/attestation?nonce=" + "00" * 65, 400),
                         ("/v1/functions/nosuch/attestation", 404)):
        assert http(gw, "GET", path)[0] == status, path
    assert http(gw, "POST", "/v1/attestation")[0] == 405


def test_each_forgery_is_refused_with_its_own_reason(gw, tmp_path):
    nonce = os.urandom(16).hex()
    text = report(gw.m, "echo", nonce)
    b = body_of(text)
    key = ["--key", gw.key]
    # Tampered: the policy in the body changed (more memory), the signature kept.
    outer = json.loads(text)
    outer["body"] = outer["body"].replace('"memory_bytes":268435456', '"memory_bytes":268435457')
    assert outer["body"] != json.loads(text)["body"]
    refused(verify(tmp_path, json.dumps(outer).encode(), *key), 5, "altered")
    sig = json.loads(text)
    sig["signature"] = ("0" if sig["signature"][0] != "0" else "1") + sig["signature"][1:]
    refused(verify(tmp_path, json.dumps(sig).encode(), *key), 5, "altered")
    # Another monitor's key: a report it signed is not this one's, nor is a random key.
    other = Monitor(tmp_path, "other").start()
    try:
        other.deploy("echo")
        theirs = report(other, "echo", nonce)
        their_key = ok(other.cli("key")).decode().strip()
    finally:
        other.stop()
    assert their_key != gw.key
    refused(verify(tmp_path, theirs, *key), 4, "not the key given")
    refused(verify(tmp_path, text, "--key", their_key), 4, "not the key given")
    # Their body under our signature: the key named is ours, the signature is not for it.
    forged = json.loads(text)
    forged["body"] = json.loads(theirs)["body"].replace(their_key, gw.key)
    refused(verify(tmp_path, json.dumps(forged).encode(), *key), 5, "altered")
    # A wrong nonce, a replayed report (an old nonce), a report with none.
    refused(verify(tmp_path, text, *key, "--nonce", os.urandom(16).hex()), 6, "replayed")
    old = report(gw.m, "echo", "00112233")
    refused(verify(tmp_path, old, *key, "--nonce", nonce), 6, "00112233")
    refused(verify(tmp_path, report(gw.m, "echo"), *key, "--nonce", nonce), 6, "not the one given")
    # Measurements other than the ones expected: the function's, the monitor's.
    refused(verify(tmp_path, text, *key, "--measurement", "ab" * 32), 7, b["function"]["measurement"])
    refused(verify(tmp_path, text, *key, "--monitor-measurement", "ab" * 32), 8, b["monitor"]["measurement"])
    # Not a report at all.
    refused(verify(tmp_path, b"{not json", *key), 3, "not JSON")
    refused(verify(tmp_path, b'{"format":"x"}', *key), 3, "citadel-report/1")
    # Usage: no key, a key that is no key.
    assert verify(tmp_path, text).returncode == 2
    assert verify(tmp_path, text, "--key", "12").returncode == 2


def test_the_measurement_follows_the_code_and_the_keys_survive_restarts(tmp_path):
    m = Monitor(tmp_path).start()
    try:
        m.deploy("fn", "echo")
        first = body_of(report(m, "fn"))
        key = ok(m.cli("key")).decode().strip()
        # Other limits: another measurement, the same code and so the same sealing key.
        m.deploy("fn", "echo", "--memory", "128M")
        limits = body_of(report(m, "fn"))
        assert limits["function"]["measurement"] != first["function"]["measurement"]
        assert limits["function"]["code_measurement"] == first["function"]["code_measurement"]
        assert limits["sealing_key"] == first["sealing_key"]
        # Other code: everything changes.
        m.deploy("fn", "upper")
        upper = body_of(report(m, "fn"))
        assert upper["function"]["code_measurement"] != first["function"]["code_measurement"]
        assert upper["sealing_key"] != first["sealing_key"]
        m.stop()
        m.start()
        again = body_of(report(m, "fn"))
        assert ok(m.cli("key")).decode().strip() == key
        assert again["sealing_key"] == upper["sealing_key"]
        assert again["monitor"]["measurement"] == first["monitor"]["measurement"]
        # The identity key is the monitor's own: a file only its owner can read.
        mode = (m.state / "identity.key").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
    finally:
        m.stop()
    os.chmod(m.state / "identity.key", 0o644)
    r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(m.state), "--socket", str(tmp_path / "x.sock")],
                       capture_output=True, timeout=60, env={**os.environ, "CITADEL_LISTEN": "none"})
    assert r.returncode != 0 and b"the identity key" in r.stderr and b"chmod 600" in r.stderr


# ---- sealed invocations ----------------------------------------------------------------------

def test_a_sealed_invocation_round_trips(gw, tmp_path):
    out = ok(gw.m.cli("invoke", "echo", "--seal", "--key", gw.key, "--data", "sealed hello"))
    assert out == b"sealed hello"
    # Large: the sealed request and response travel as data objects.
    big = os.urandom(300_000)
    (tmp_path / "big").write_bytes(big)
    keyfile = tmp_path / "key"
    keyfile.write_text(gw.key + "\n")
    assert ok(gw.m.cli("invoke", "echo", "--seal", "--key", str(keyfile), "--file", str(tmp_path / "big"))) == big
    # The report is checked first: another key, another measurement, and nothing is sent.
    calls = gw.m.ls()["echo"]["invocations"]
    r = gw.m.cli("invoke", "echo", "--seal", "--key", "ab" * 32, "--data", "x")
    assert r.returncode == 1 and b"nothing was sent" in r.stderr and b"not the key given" in r.stderr
    r = gw.m.cli("invoke", "echo", "--seal", "--key", gw.key, "--measurement", "cd" * 32, "--data", "x")
    assert r.returncode == 1 and b"nothing was sent" in r.stderr
    assert gw.m.ls()["echo"]["invocations"] == calls
    assert gw.m.cli("invoke", "echo", "--seal", "--data", "x").returncode == 2  # --seal needs --key


class Recorder:
    """A TCP proxy on loopback that keeps every byte it passes, both ways."""

    def __init__(self, port):
        self.seen = bytearray()
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.srv.settimeout(60)
        self.url = f"http://127.0.0.1:{self.srv.getsockname()[1]}"
        self.port = port
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            for a, b in ((c, up), (up, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    def pipe(self, a, b):
        try:
            while chunk := a.recv(65536):
                with self.lock:
                    self.seen += chunk
                b.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.srv.close()


def test_the_gateway_and_the_wire_see_only_ciphertext(gw):
    rec = Recorder(gw.port)
    try:
        data = MARKER * 3
        out = ok(gw.cli("invoke", "echo", "--seal", "--key", gw.key, "--data", data.decode(), url=rec.url))
        assert out == data  # the function had the plaintext: it echoed it
        with rec.lock:
            seen = bytes(rec.seen)
        assert b"application/vnd.citadel.sealed" in seen and b"/v1/functions/echo/invoke" in seen
        assert MARKER not in seen  # neither the request nor the response, in either direction
        # Unsealed, the same call is in the clear on the same wire: the check above can fail.
        ok(gw.cli("invoke", "echo", "--data", data.decode(), url=rec.url))
        with rec.lock:
            assert MARKER in bytes(rec.seen)
    finally:
        rec.close()
    assert MARKER not in gw.m.log.read_bytes()


def http(gw, method, path, body=b"", headers=None):
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=60) as s:
        s.sendall(head.encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, rest = out.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if hdrs.get("transfer-encoding") == "chunked":
        body_out, rest2 = b"", rest
        while True:
            size, _, rest2 = rest2.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            body_out += rest2[:n]
            rest2 = rest2[n + 2:]
        rest = body_out
    return int(lines[0].split()[1]), hdrs, rest


def sealed_request(fn_key_hex, data, ctype=b""):
    """A sealed request as attest.h lays it out, made here with PyNaCl: what any client
    can do from the report alone."""
    mine = nacl.public.PrivateKey.generate()
    plain = bytes(mine.public_key) + bytes([len(ctype)]) + ctype + data
    box = nacl.public.SealedBox(nacl.public.PublicKey(bytes.fromhex(fn_key_hex)))
    return mine, box.encrypt(plain)


def test_a_request_sealed_for_old_code_does_not_open_for_new_code(tmp_path):
    g = Gateway(tmp_path)
    try:
        g.m.deploy("fn", "echo")
        old = body_of(report(g.m, "fn"))["sealing_key"]
        mine, ct = sealed_request(old, b"to the old code", b"text/plain")
        hdr = {"Content-Type": "application/vnd.citadel.sealed"}
        st, h, body = http(g, "POST", "/v1/functions/fn/invoke", ct, hdr)
        assert st == 200 and h["content-type"] == "application/vnd.citadel.sealed", (st, body[:200])
        plain = nacl.public.SealedBox(mine).decrypt(body)
        assert plain[1:1 + plain[0]] == b"" and plain[1 + plain[0]:] == b"to the old code"
        g.m.deploy("fn", "upper")
        st, h, body = http(g, "POST", "/v1/functions/fn/invoke", ct, hdr)
        assert st >= 400 and b"does not open" in body, (st, body)
        # Garbage, a cut box, an asynchronous sealed call: refused, the monitor fine.
        for bad in (b"", b"x" * 10, ct[:-1], os.urandom(200)):
            st, _, body = http(g, "POST", "/v1/functions/fn/invoke", bad, hdr)
            assert 400 <= st < 500, (st, body)
        st, _, body = http(g, "POST", "/async-function/fn", ct, hdr)
        assert st >= 400 and b"asynchronous" in body, (st, body)
        new = body_of(report(g.m, "fn"))["sealing_key"]
        mine, ct = sealed_request(new, b"to the new code")
        st, _, body = http(g, "POST", "/v1/functions/fn/invoke", ct, hdr)
        plain = nacl.public.SealedBox(mine).decrypt(body)
        assert st == 200 and plain[1 + plain[0]:] == b"TO THE NEW CODE"
    finally:
        g.m.stop()


# ---- what an outside tester tried ------------------------------------------------------------

class Rewriter(Recorder):
    """A proxy that sends every request for one function to another (a gateway that lies)."""

    def __init__(self, port, old, new):
        self.old, self.new = old, new
        super().__init__(port)

    def pipe(self, a, b):
        if a.getpeername()[1] == self.port:  # the answers: as they are
            return super().pipe(a, b)
        try:
            while chunk := a.recv(65536):
                b.sendall(chunk.replace(self.old, self.new))
        except OSError:
            pass


def test_a_report_of_another_function_is_refused_before_anything_is_sent(gw, tmp_path):
    gw.m.deploy("twin", "echo")  # the same code under another name: the same measurement
    measurement = gw.m.ls()["echo"]["measurement"]
    rw = Rewriter(gw.port, b"/echo/", b"/twin/")
    try:
        calls = gw.m.ls()["twin"]["invocations"]
        r = gw.cli("invoke", "echo", "--seal", "--key", gw.key, "--measurement", measurement, "--data",
                   MARKER.decode(), url=rw.url)
        assert r.returncode == 1 and b"nothing was sent" in r.stderr and b"twin's, not echo's" in r.stderr, r.stderr
        assert gw.m.ls()["twin"]["invocations"] == calls
    finally:
        rw.close()
    # The monitor's own report, offered as echo's: no function, no key to seal to.
    rw = Rewriter(gw.port, b"/v1/functions/echo/attestation", b"/v1/attestation?x=/")
    try:
        r = gw.cli("invoke", "echo", "--seal", "--key", gw.key, "--data", "x", url=rw.url)
        assert r.returncode == 1 and b"the monitor's alone" in r.stderr, r.stderr
    finally:
        rw.close()
    nonce = os.urandom(8).hex()
    text = report(gw.m, "twin", nonce)
    refused(verify(tmp_path, text, "--key", gw.key, "--name", "echo"), 10, "twin's, not echo's")
    assert verify(tmp_path, text, "--key", gw.key, "--name", "twin", "--nonce", nonce).returncode == 0
    refused(verify(tmp_path, ok(gw.m.cli("attest")), "--key", gw.key, "--name", "echo"), 10, "alone")


def test_odd_sealed_requests_are_refused_and_nothing_dies(gw):
    key = body_of(report(gw.m, "echo"))["sealing_key"]
    hdr = {"Content-Type": "application/vnd.citadel.sealed"}
    died = gw.m.log.read_text().count("event=instance_died")
    _, ct = sealed_request(key, b"x", b"text/pl\0ain")  # a NUL in the inner content type
    st, _, body = http(gw, "POST", "/v1/functions/echo/invoke", ct, hdr)
    assert st == 400 and b"content type" in body, (st, body)
    # The media type as HTTP compares it: any case, with parameters; never run unsealed.
    for ctype in ("APPLICATION/VND.CITADEL.SEALED", "application/vnd.citadel.sealed; charset=utf-8"):
        mine, ct = sealed_request(key, b"cased")
        st, _, body = http(gw, "POST", "/v1/functions/echo/invoke", ct, {"Content-Type": ctype})
        assert st == 200 and nacl.public.SealedBox(mine).decrypt(body)[1:] == b"cased", (st, body[:100])
        st, _, body = http(gw, "POST", "/async-function/echo", ct, {"Content-Type": ctype})
        assert st == 400 and b"asynchronous" in body, (st, body)
    ok(gw.m.cli("chain", "create", "twice", "echo", "echo"))
    st, _, body = http(gw, "POST", "/v1/chains/twice/invoke", ct, {**hdr, "Authorization": f"Bearer {gw.token}"})
    assert st == 400 and b"chain cannot be invoked sealed" in body, (st, body)
    assert gw.m.log.read_text().count("event=instance_died") == died


def test_a_python_exception_in_a_sealed_call_keeps_the_request_out_of_the_log(gw, tmp_path):
    src = tmp_path / "raiser.py"
    src.write_text("def handle(event, context):\n    raise ValueError('bad input %r' % (event,))\n")
    ok(gw.m.cli("deploy", "raiser", str(src), "--runtime", "python"))
    r = gw.m.cli("invoke", "raiser", "--seal", "--key", gw.key, "--data", MARKER.decode())
    assert r.returncode == 1 and b"withheld" in r.stderr and MARKER not in r.stderr, r.stderr
    log = ok(gw.m.cli("logs", "raiser"))
    assert b"ValueError (in a sealed call" in log and MARKER not in log, log
    r = gw.m.cli("invoke", "raiser", "--data", "in the clear")  # unsealed: the traceback as ever
    assert r.returncode == 1 and b"in the clear" in ok(gw.m.cli("logs", "raiser"))


def test_a_program_changed_on_disk_is_neither_measured_nor_started(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for p in ("citadel", "citadeld", "citadel-zygote", "citadel-python", "citadel-store", "citadel-unpack",
              "citadel-gateway", "citadel-callback"):
        shutil.copy2(CITADEL.parent / p, bindir / p)
    sock, state = tmp_path / "s.sock", tmp_path / "state"
    log = open(tmp_path / "log", "wb")
    proc = subprocess.Popen([str(bindir / "citadel"), "serve", "--state-dir", str(state), "--socket", str(sock)],
                            stderr=log, env={**os.environ, "CITADEL_LISTEN": "none"})
    env = {"PATH": os.environ["PATH"], "CITADEL_SOCKET": str(sock)}

    def cli(*args):
        return subprocess.run([str(bindir / "citadel"), *args], capture_output=True, timeout=60, env=env)
    try:
        for _ in range(500):
            if sock.exists():
                break
            time.sleep(0.02)
        ok(cli("deploy", "echo", str(EXAMPLES / "echo.so")))
        # Replaced (a new file renamed over it), as an upgrade would, before the monitor has
        # measured itself (its first report): it would measure bytes that do not run.
        new = bindir / "z.new"
        new.write_bytes((bindir / "citadel-zygote").read_bytes() + b"MODIFIED")
        new.chmod(0o755)
        new.rename(bindir / "citadel-zygote")
        r = cli("attest", "echo")
        assert r.returncode == 1 and b"citadel-zygote changed since the monitor started" in r.stderr, r.stderr
        # A new zygote of it is refused: the spare was made before; the next one is not.
        cli("deploy", "upper", str(EXAMPLES / "upper.so"))
        r = cli("deploy", "shout", str(EXAMPLES / "upper.so"))
        assert r.returncode != 0, r.stdout
        assert "changed since the monitor started" in (tmp_path / "log").read_text()
        assert ok(cli("invoke", "echo", "--data", "still serving")) == b"still serving"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
