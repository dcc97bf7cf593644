"""Functions' key-value state end to end (docs/state.md): the C API from inside instances
(get, put, delete, compare-and-swap, scans, batches), compare-and-swap races across
instances, namespaces and their sharing grants, the limits, `citadel kv`, state kept
across restarts and redeploys (and purged), the store process killed, and the attacks a
storage provider could make on the store's file: bytes flipped, values swapped, a value
cut, a record deleted, the whole store rolled back to an older copy. Each attack is made on
the LMDB file itself (python3-lmdb, with the monitor stopped) and every read of an
affected key must fail with an integrity error, never return a wrong value."""
import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lmdb
import pytest

from test_monitor import Monitor, build_source

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def kvso(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kvfn")
    return build_source(tmp, "kv_fn", (HERE / "kv_fn.c").read_text())


@pytest.fixture
def sm(tmp_path, kvso):
    """A monitor of the test's own, with kv_fn deployed as 'kv'."""
    m = Monitor(tmp_path).start()
    m.so = kvso
    ok(m.cli("deploy", "kv", str(kvso)))
    yield m
    m.stop()


def ok(r):
    assert r.returncode == 0, r.stderr
    return r.stdout


def run(m, name, *lines):
    """Invokes kv_fn NAME with the command lines; its answer lines."""
    r = m.cli("invoke", name, "--data", "\n".join(lines))
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()


def store_path(m):
    return m.state / "state" / "store.mdb"


def records(m):
    """The store's records (key -> bytes), read beneath the monitor (stopped)."""
    with lmdb.open(str(store_path(m)), subdir=False, lock=False, readonly=True) as env, env.begin() as txn:
        return dict(txn.cursor())


def rewrite(m, fn):
    """Changes the store's records beneath the monitor (stopped): fn(txn)."""
    with lmdb.open(str(store_path(m)), subdir=False, lock=False, map_size=1 << 30) as env, \
            env.begin(write=True) as txn:
        fn(txn)


def user_records(m):
    """The records of keys: not namespaces' heads (key ids of 32 zero bytes), nor the
    store's key check (a key of 64 0xff bytes)."""
    return {k: v for k, v in records(m).items() if k[32:] != bytes(32) and k != b"\xff" * 64}


def test_a_function_reads_and_writes_its_state(sm):
    out = run(sm, "kv", "get greeting", "put greeting hello", "get greeting", "put greeting hi", "get greeting",
              "del greeting", "get greeting", "del greeting")
    assert out[0].startswith("err -2 ")  # ENOENT: no such key
    v1 = int(out[1].split()[1])
    assert out[2] == f"ok hello {v1}"
    v2 = int(out[3].split()[1])
    assert v2 > v1 and out[4] == f"ok hi {v2}"
    assert out[5] == "ok" and out[6].startswith("err -2 ") and out[7].startswith("err -2 ")


def test_compare_and_swap_writes_only_the_version_read(sm):
    out = run(sm, "kv", "cas c 0 first", "cas c 0 again", "get c")
    v = int(out[0].split()[1])
    assert out[1] == f"err -125 version={v} the key's version is not the one expected"  # ECANCELED
    assert out[2] == f"ok first {v}"
    out = run(sm, "kv", f"cas c {v} second", f"cas c {v} third", "get c")
    v2 = int(out[0].split()[1])
    assert out[1].startswith(f"err -125 version={v2}") and out[2] == f"ok second {v2}"


def test_scans_list_names_in_order_by_prefix(sm):
    run(sm, "kv", *[f"put user:{n} x" for n in ("carol", "alice", "bob", "dave")], "put other y")
    assert run(sm, "kv", "scan user:") == ["ok user:alice,user:bob,user:carol,user:dave"]
    assert run(sm, "kv", "scan user: user:bob") == ["ok user:carol,user:dave"]
    assert run(sm, "kv", "scan user: - 2") == ["ok user:alice,user:bob"]
    assert run(sm, "kv", "scan - - 1000") == ["ok other,user:alice,user:bob,user:carol,user:dave"]
    # The CLI lists the same, and more than one scan's worth.
    assert ok(sm.cli("kv", "ls", "kv", "user:")) == b"user:alice\nuser:bob\nuser:carol\nuser:dave\n"


def test_a_batch_is_one_request(sm):
    assert run(sm, "kv", "batch 1000") == ["ok 1000"]
    listed = ok(sm.cli("kv", "ls", "kv", "bk")).splitlines()
    assert len(listed) == 1000
    # More than 1024 operations at once is refused whole, saying so.
    out = run(sm, "kv", "raw")
    assert out[0].startswith("err -22 a batch holds 1 to 1024 operations"), out


def test_eight_instances_incrementing_one_counter_end_at_8000(sm):
    """Compare-and-swap under contention: 8 instances at once, 1,000 increments each."""
    ok(sm.cli("deploy", "counter", str(sm.so), "--max-instances", "8", "--min-instances", "8", "--timeout", "2m"))
    with ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda _: run(sm, "counter", "incr n 1000"), range(8)))
    assert all(o[0].startswith("ok conflicts=") for o in outs), outs
    out = run(sm, "counter", "get n")
    assert out[0].startswith("ok 8000"), out
    conflicts = sum(int(o[0].split("=")[1]) for o in outs)
    print(f"8 x 1000 increments: {conflicts} compare-and-swap conflicts retried")


def test_namespaces_are_apart_and_sharing_is_granted_by_the_owner(sm):
    ok(sm.cli("deploy", "reader", str(sm.so)))
    run(sm, "kv", "put secret mine")
    assert run(sm, "reader", "get secret")[0].startswith("err -2 ")  # its own namespace: no such key
    out = run(sm, "reader", "use kv get secret")
    assert out[0].startswith("err -1 function reader may not use namespace kv"), out  # EPERM
    assert "--state-share reader" in out[0]
    # The owner's deployment grants it; a third function stays refused.
    ok(sm.cli("deploy", "kv", str(sm.so), "--state-share", "reader"))
    assert run(sm, "reader", "use kv get secret")[0].startswith("ok mine ")
    assert run(sm, "reader", "use kv put shared yes")[0].startswith("ok ")
    assert run(sm, "reader", "use kv scan s") == ["ok secret,shared"]
    assert run(sm, "kv", "get shared")[0].startswith("ok yes ")
    ok(sm.cli("deploy", "other", str(sm.so)))
    assert run(sm, "other", "use kv get secret")[0].startswith("err -1 ")
    # Unknown namespaces and bad names: refused, clearly.
    assert run(sm, "reader", "use nosuchfn get k")[0].startswith("err -1 ")
    assert run(sm, "reader", "use BAD get k")[0].startswith("err -22 'BAD' is not a namespace")


def test_limits_say_which_was_hit(sm):
    ok(sm.cli("deploy", "small", str(sm.so), "--state-value-max", "1K", "--state-quota", "64K"))
    long_key = "k" * 1025
    assert run(sm, "small", f"put {long_key} v")[0].startswith("err -90 a key is 1 to 1024 bytes")
    assert run(sm, "small", "big v 1024")[0].startswith("ok ")
    out = run(sm, "small", "big v 1025")
    assert out[0].startswith("err -90 ") and "--state-value-max" in out[0], out  # EMSGSIZE
    outs = run(sm, "small", *[f"big q{i} 1000" for i in range(70)])
    full = [o for o in outs if o.startswith("err")]
    assert full and all(o.startswith("err -122 ") and "--state-quota" in o for o in full), outs  # EDQUOT
    assert 55 < outs.index(full[0]) < 66
    # What fit is all there; what did not was not written.
    first_refused = outs.index(full[0])
    assert run(sm, "small", "size q0") == ["ok 1000"]
    assert run(sm, "small", f"size q{first_refused}")[0].startswith("err -2 ")
    # Bad bounds at deploy are refused there.
    r = sm.cli("deploy", "bad", str(sm.so), "--state-value-max", "17M")
    assert r.returncode == 2 and b"--state-value-max" in r.stderr
    r = sm.cli("deploy", "bad", str(sm.so), "--state-quota", "1K")
    assert r.returncode == 2 and b"--state-quota" in r.stderr


def test_kv_cli(sm):
    assert ok(sm.cli("kv", "put", "kv", "greeting", "hello")) == b""
    assert ok(sm.cli("kv", "get", "kv", "greeting")) == b"hello"
    blob = os.urandom(100_000)  # from stdin, any bytes, larger than a message
    ok(sm.cli("kv", "put", "kv", "blob", input=blob))
    assert ok(sm.cli("kv", "get", "kv", "blob")) == blob
    assert run(sm, "kv", "size blob") == ["ok 100000"]  # the function sees what the admin wrote
    long_listing = ok(sm.cli("kv", "ls", "kv", "--long")).decode().splitlines()
    assert any(line.startswith("blob\t100000\t") for line in long_listing)
    r = sm.cli("kv", "get", "kv", "nope")
    assert r.returncode == 1 and b"no such key" in r.stderr
    info = ok(sm.cli("kv", "info", "kv")).decode()
    assert "keys 2\n" in info and "integrity ok\n" in info
    ok(sm.cli("kv", "del", "kv", "greeting"))
    assert sm.cli("kv", "get", "kv", "greeting").returncode == 1
    # Usage errors: exit 2, with what was wrong.
    for args in (("kv",), ("kv", "get", "kv"), ("kv", "frob", "kv"), ("kv", "get", "kv", "k" * 1025),
                 ("kv", "put", "kv", "k", "v", "extra"), ("kv", "get", "kv", "k", "--json")):
        r = sm.cli(*args)
        assert r.returncode == 2 and r.stderr, args
    r = sm.cli("kv", "get", "Not-A-Name", "k")
    assert r.returncode == 2 and b"not a namespace" in r.stderr
    assert b"usage: citadel kv get NAMESPACE KEY" in ok(sm.cli("kv", "--help"))


def test_state_outlives_restarts_and_rm_unless_purged(sm):
    run(sm, "kv", "put kept yes")
    sm.stop()
    sm.start()
    assert run(sm, "kv", "get kept")[0].startswith("ok yes ")
    ok(sm.cli("rm", "kv"))
    assert ok(sm.cli("kv", "get", "kv", "kept")) == b"yes"  # an admin still reaches it
    ok(sm.cli("deploy", "kv", str(sm.so)))
    assert run(sm, "kv", "get kept")[0].startswith("ok yes ")  # deployed again: found
    out = ok(sm.cli("rm", "kv", "--purge"))
    assert b"removed kv" in out and b"purged" in out
    ok(sm.cli("deploy", "kv", str(sm.so)))
    assert run(sm, "kv", "get kept")[0].startswith("err -2 ")


def test_the_store_process_killed_is_started_again(sm):
    run(sm, "kv", "put before yes")
    pids = subprocess.run(["pgrep", "-f", "^/citadel/store "], capture_output=True, text=True).stdout.split()
    mine = [p for p in pids if str(sm.proc.pid) in _ancestors(int(p))]
    assert len(mine) == 1, pids
    os.kill(int(mine[0]), signal.SIGKILL)
    assert run(sm, "kv", "get before", "put after yes", "get after")[0].startswith("ok yes ")
    assert any("the store process" in line for line in sm.log.read_text().splitlines())


def _ancestors(pid):
    out = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            break
        out.append(str(pid))
    return out


def test_the_store_file_holds_no_name_or_value(sm):
    run(sm, "kv", "put visible-name a-very-recognisable-value")
    sm.stop()
    data = store_path(sm).read_bytes()
    assert b"visible-name" not in data and b"a-very-recognisable-value" not in data
    assert b"kv" not in b"".join(records(sm).keys())  # nor the namespace's name
    key_file = sm.state / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


# ---- tampering beneath the monitor ---------------------------------------------------


def _one_key(sm, value="the-true-value"):
    run(sm, "kv", f"put target {value}", "put bystander fine")
    sm.stop()


def _integrity_error(sm, key="target"):
    sm.start()
    out = run(sm, "kv", f"get {key}")
    assert out[0].startswith("err -74 "), out  # EBADMSG
    assert "integrity" in out[0] and "the-true-value" not in out[0]
    return out[0]


def _target(sm):
    """The record of key 'target': of the two keys, the one of 14 bytes of value (a record is
    its key's name and value and 50 bytes: version, nonce, the name's length, the tag)."""
    recs = user_records(sm)
    assert len(recs) == 2
    return next(k for k, v in recs.items() if len(v) == 50 + 6 + 14)


def test_a_flipped_byte_is_an_integrity_error(sm):
    _one_key(sm)
    k = _target(sm)
    rewrite(sm, lambda txn: txn.put(k, bytes([b ^ (0x01 if i == 60 else 0) for i, b in enumerate(txn.get(k))])))
    why = _integrity_error(sm)
    assert "altered" in why
    assert run(sm, "kv", "get bystander")[0].startswith("ok fine ")


def test_a_cut_value_is_an_integrity_error(sm):
    _one_key(sm)
    k = _target(sm)
    rewrite(sm, lambda txn: txn.put(k, txn.get(k)[:-5]))
    _integrity_error(sm)


def test_swapped_values_are_integrity_errors(sm):
    _one_key(sm)
    a, b = user_records(sm).keys()

    def swap(txn):
        va, vb = txn.get(a), txn.get(b)
        txn.put(a, vb)
        txn.put(b, va)
    rewrite(sm, swap)
    _integrity_error(sm, "target")
    _integrity_error_running(sm, "bystander")


def _integrity_error_running(sm, key):
    out = run(sm, "kv", f"get {key}")
    assert out[0].startswith("err -74 "), out


def test_an_older_value_of_a_key_is_an_integrity_error(sm):
    run(sm, "kv", "put target old-value", "put bystander fine")
    sm.stop()
    old = records(sm)
    sm.start()
    run(sm, "kv", "put target the-true-value")
    sm.stop()
    k = next(k for k in user_records(sm) if old.get(k) != records(sm).get(k))
    rewrite(sm, lambda txn: txn.put(k, old[k]))
    why = _integrity_error(sm)
    assert "not the ones last written" in why
    # The namespace stays failed until an admin purges it; other namespaces are sound.
    info = ok(sm.cli("kv", "info", "kv")).decode()
    assert "integrity namespace kv: integrity error" in info
    ok(sm.cli("kv", "purge", "kv"))
    assert run(sm, "kv", "put target new", "get target")[1].startswith("ok new ")


def test_a_deleted_record_is_an_integrity_error(sm):
    _one_key(sm)
    k = _target(sm)
    rewrite(sm, lambda txn: txn.delete(k))
    _integrity_error(sm)


def test_the_whole_store_rolled_back_is_found_at_start(sm):
    run(sm, "kv", "put target old-value")
    sm.stop()
    shutil.copy(store_path(sm), sm.state / "old.mdb")  # the provider's copy
    sm.start()
    run(sm, "kv", "put target the-true-value", "put more writes")
    sm.stop()  # a clean stop writes the checkpoint
    shutil.copy(sm.state / "old.mdb", store_path(sm))
    sm.start()
    out = run(sm, "kv", "get target", "get more")
    assert all(o.startswith("err -74 ") and "rolled back" in o for o in out), out
    assert "old-value" not in "".join(out)
    assert any("integrity" in line and "rolled back" in line for line in sm.log.read_text().splitlines())


def test_garbage_in_the_file_never_returns_a_wrong_value(sm):
    """Bytes overwritten anywhere in the file, LMDB's own pages included: each read is the
    true value or an error, and the monitor survives (the store may crash and restart)."""
    run(sm, "kv", *[f"put k{i} value-{i}" for i in range(50)])
    sm.stop()
    data = bytearray(store_path(sm).read_bytes())
    for off in range(100, len(data), 997):
        data[off] ^= 0x5A
    store_path(sm).write_bytes(bytes(data))
    sm.start()
    # The store may crash on each read and be started again: room for that, under ASan too.
    ok(sm.cli("deploy", "kv", str(sm.so), "--timeout", "60s"))
    out = run(sm, "kv", *[f"get k{i}" for i in range(50)])
    for i, line in enumerate(out):
        assert line.startswith(f"ok value-{i} ") or line.startswith("err "), line
    assert sm.proc.poll() is None
    assert run(sm, "kv", "put fresh yes")[0]  # answered, however the store is


def test_acknowledged_writes_survive_kill_9(sm):
    """The monitor killed (SIGKILL) while 4 callers write, 10,000 writes in all: after a
    restart every write that was acknowledged is there."""
    acked, stop = [], threading.Event()

    def writer(w):
        for batch in range(50):  # 50 calls of 50 writes: 2,500 per caller
            if stop.is_set():
                return
            keys = [f"w{w}-{batch}-{i}" for i in range(50)]
            r = sm.cli("invoke", "kv", "--data", "\n".join(f"put {k} {k}" for k in keys), timeout=120)
            if r.returncode != 0:
                return
            lines = r.stdout.decode().splitlines()
            acked.extend(k for k, line in zip(keys, lines) if line.startswith("ok "))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 3000 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    sm.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 3000
    os.unlink(sm.sock)  # left by the killed monitor
    sm.start()
    have = set(ok(sm.cli("kv", "ls", "kv", "w")).decode().splitlines())
    missing = [k for k in acked if k not in have]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost: {missing[:5]}"
    sample = acked[:: max(1, len(acked) // 20)]
    assert all(ok(sm.cli("kv", "get", "kv", k)).decode() == k for k in sample)


PY_KV = """
import json
import citadel
def handle(event, context):
    kv = citadel.kv
    req = json.loads(event)
    out = {}
    if req["op"] == "basics":
        out["missing"] = kv.get("k", "absent")
        v1 = kv.put("k", b"one")
        out["got"] = kv.get("k").decode()
        value, ver = kv.get_version("k")
        out["same_version"] = ver == v1
        out["cas_stale"] = kv.cas("k", ver - 1, "two")[0]
        ok, v2 = kv.cas("k", ver, "two")
        out["cas_fresh"] = ok and v2 > ver
        out["deleted"] = kv.delete("k")
        out["deleted_again"] = kv.delete("k")
        for name in ("b:2", "b:1", "a:1"):
            kv.put(name, name)
        out["scan"] = [n.decode() for n in kv.scan("b:")]
        out["batch"] = kv.batch([("put", "x", "X"), ("get", "x"), ("get", "nope"), ("delete", "x")])
        out["batch"][1] = out["batch"][1].decode()
        out["batch"][0] = out["batch"][0] > 0
    elif req["op"] == "incr":
        for _ in range(req["n"]):
            while True:
                value, ver = kv.get_version("n")
                if kv.cas("n", ver, str(int(value or 0) + 1))[0]:
                    break
        out["n"] = int(kv.get("n"))
    elif req["op"] == "locks":
        with kv.lock("L", lease=5):
            kv.put("L", "made")
            out["inside"] = kv.get("L").decode()
        out["after"] = kv.get("L").decode()
        try:
            with kv.lock("L"):
                kv.put("L", "dropped")
                raise ValueError("changed my mind")
        except ValueError:
            pass
        out["after_raise"] = kv.get("L").decode()
    elif req["op"] == "errors":
        try:
            kv.put("k" * 1025, "v")
        except citadel.StateError as e:
            out["long_key"] = [e.code, e.text]
        try:
            kv.namespace("kv").get("k")
        except citadel.StateError as e:
            out["not_shared"] = [e.code, e.text]
    return out
"""


def test_python_functions_have_the_same_state(sm, tmp_path):
    f = tmp_path / "handler.py"
    f.write_text(PY_KV)
    ok(sm.cli("deploy", "pykv", str(f), "--max-instances", "4", "--min-instances", "4"))
    import json
    out = json.loads(ok(sm.cli("invoke", "pykv", "--data", json.dumps({"op": "basics"}))))
    assert out == {"missing": "absent", "got": "one", "same_version": True, "cas_stale": False, "cas_fresh": True,
                   "deleted": True, "deleted_again": False, "scan": ["b:1", "b:2"],
                   "batch": [True, "X", None, True]}, out
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: ok(sm.cli("invoke", "pykv", "--data", json.dumps({"op": "incr", "n": 100}))),
                           range(4)))
    assert max(json.loads(o)["n"] for o in outs) == 400
    out = json.loads(ok(sm.cli("invoke", "pykv", "--data", json.dumps({"op": "locks"}))))
    assert out == {"inside": "made", "after": "made", "after_raise": "made"}, out
    out = json.loads(ok(sm.cli("invoke", "pykv", "--data", json.dumps({"op": "errors"}))))
    assert out["long_key"][0] == -90 and "1 to 1024 bytes" in out["long_key"][1]
    assert out["not_shared"][0] == -1 and "--state-share pykv" in out["not_shared"][1]
    # What C functions and admins see is the same state.
    assert ok(sm.cli("kv", "get", "pykv", "a:1")) == b"a:1"


# ---- locks ---------------------------------------------------------------------------


def test_eight_instances_incrementing_under_a_lock_end_at_8000(sm):
    ok(sm.cli("deploy", "locked", str(sm.so), "--max-instances", "8", "--min-instances", "8", "--timeout", "2m"))
    with ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda _: run(sm, "locked", "lincr n 1000"), range(8)))  # 4 round trips each
    assert all(o == ["ok"] for o in outs), outs
    assert run(sm, "locked", "get n")[0].startswith("ok 8000")


def test_writes_under_a_lock_are_seen_when_it_is_released(sm):
    ok(sm.cli("deploy", "peer", str(sm.so), "--max-instances", "2"))
    ok(sm.cli("deploy", "kv", str(sm.so), "--state-share", "peer", "--max-instances", "2"))
    run(sm, "kv", "put a before")
    with ThreadPoolExecutor(2) as ex:
        holder = ex.submit(run, sm, "kv", "lock a 10000", "put a during", "put b new", "get a", "sleep 800",
                           "unlock a", "get a")
        time.sleep(0.4)
        # Meanwhile: the others see what was last made; their writes to the locked key wait.
        seen = run(sm, "peer", "use kv get a", "use kv get b", "use kv put a other")
        out = holder.result()
    assert out == ["ok", "ok 0", "ok 0", "ok during 0", "ok", "ok", out[6]] and out[6].startswith("ok during ")
    assert seen[0].startswith("ok before ") and seen[1].startswith("err -2 "), seen
    assert seen[2].startswith("err -16 the key is locked by another caller"), seen  # EBUSY
    assert run(sm, "kv", "get b")[0].startswith("ok new ")
    # Dropped: nothing of it is made.
    assert run(sm, "kv", "lock a 1000", "put a dropped", "drop a", "get a")[3].startswith("ok during ")


def test_a_lock_that_outlives_its_lease_or_its_call_drops_its_writes(sm):
    run(sm, "kv", "put c kept")
    out = run(sm, "kv", "lock c 200", "put c lost", "sleep 600", "unlock c", "get c")
    assert out[3].startswith("err -37 the lock's lease ran out"), out  # ENOLCK
    assert out[4].startswith("ok kept ")
    # The call ends holding it: released, its writes dropped; the next call may lock it.
    assert run(sm, "kv", "lock c 60000", "put c lost") == ["ok", "ok 0"]
    assert run(sm, "kv", "lock c 1000", "get c", "unlock c")[:2][1].startswith("ok kept ")
    # A waiter gets the lock when a holder's call ends or its lease runs out.
    with ThreadPoolExecutor(2) as ex:
        first = ex.submit(run, sm, "kv", "lock w 400", "sleep 1200")
        time.sleep(0.2)
        t0 = time.monotonic()
        second = run(sm, "kv", "lock w 1000", "unlock w")
        waited = time.monotonic() - t0
        first.result()
    assert second == ["ok", "ok"] and 0.1 < waited < 1.5, (second, waited)


def test_lock_misuse_is_refused_with_why(sm):
    assert run(sm, "kv", "unlock nothing")[0].startswith("err -37 this call holds no lock on that key")
    assert run(sm, "kv", "lock k 1000", "lock k 1000")[1].startswith("err -35 this call holds that lock already")
    assert run(sm, "kv", "lock k 0")[0].startswith("err -22 a lock's lease is 1 to 600000 ms")
    assert run(sm, "kv", "lock k 600001")[0].startswith("err -22 ")
    out = run(sm, "kv", "lock k 1000", "cas k 0 v", "unlock k")
    assert out[1].startswith("err -22 version=0 a compare-and-swap under a lock"), out


# ---- what an outside tester found -----------------------------------------------------


def test_another_master_key_is_refused_not_an_empty_state(sm):
    run(sm, "kv", "put kept yes")
    sm.stop()
    key = sm.state / "master.key"
    saved = key.read_bytes()
    key.unlink()  # lost: the monitor makes a new one, which the store's key check refuses
    sm.start()
    out = run(sm, "kv", "get kept", "put other x")
    assert all(o.startswith("err -5 integrity: the state store") for o in out), out  # EIO
    assert "another master key" in out[0] or "check" in out[0]
    assert "integrity" in sm.log.read_text()
    sm.stop()
    key.write_bytes(saved)
    sm.start()
    assert run(sm, "kv", "get kept")[0].startswith("ok yes "), "the right key reads it all again"
    assert run(sm, "kv", "get other")[0].startswith("err -2 "), "nothing was written under the wrong key"


def test_a_missing_or_damaged_checkpoint_refuses_the_store_until_accepted(sm):
    run(sm, "kv", "put kept yes")
    sm.stop()
    ck = sm.state / "state" / "checkpoint"
    data = bytearray(ck.read_bytes())
    data[40] ^= 1
    ck.write_bytes(bytes(data))
    sm.start()
    out = run(sm, "kv", "get kept")
    assert out[0].startswith("err -5 integrity: ") and "--state-accept" in out[0], out
    assert ck.read_bytes() == bytes(data), "the evidence is not overwritten"
    sm.stop()
    ck.unlink()
    sm.start()
    assert "is missing" in run(sm, "kv", "get kept")[0]
    sm.stop()
    sm.start("--state-accept")
    assert run(sm, "kv", "get kept")[0].startswith("ok yes ")
    sm.stop()
    sm.start()  # the new checkpoint holds from now on
    assert run(sm, "kv", "get kept")[0].startswith("ok yes ")


def test_a_read_of_a_write_the_store_refused_is_refused_too(tmp_path, kvso):
    m = Monitor(tmp_path).start("--store-max", "16M")
    try:
        ok(m.cli("deploy", "full", str(kvso), "--state-value-max", "16M", "--state-quota", "1G"))
        out = run(m, "full", "pbg fresh NEWVALUE 16777216")
        rcs = out[0].split()[1:4]
        assert rcs[1] == "-28" and rcs[0] == "-28" and rcs[2] == "-28", out  # ENOSPC, all three
        assert "NEWVALUE" not in out[0]
        assert run(m, "full", "get fresh")[0].startswith("err -2 ")
        # A value of exactly 16 MiB fits a store that has room for it.
    finally:
        m.stop()
    m = Monitor(tmp_path, "big").start()
    try:
        ok(m.cli("deploy", "big", str(kvso), "--state-value-max", "16M", "--state-quota", "1G"))
        assert run(m, "big", "big v 16777216", "size v")[1] == "ok 16777216"
    finally:
        m.stop()


def test_a_batch_too_large_to_answer_is_refused_before_the_work(sm):
    ok(sm.cli("deploy", "wide", str(sm.so), "--state-quota", "1G"))
    run(sm, "wide", "big v 1048576")
    t0 = time.monotonic()
    out = run(sm, "wide", "many v 100")
    assert out[0].startswith("err -7 the values asked for come to 100 MiB"), out  # E2BIG
    assert time.monotonic() - t0 < 5
    assert run(sm, "wide", "many v 50") == ["ok"]


def test_records_planted_in_the_file_stop_neither_loads_nor_purges(sm):
    run(sm, "kv", "put a 1", "put b 2")
    sm.stop()
    prefix = next(iter(user_records(sm)))[:32]  # the namespace's id
    rewrite(sm, lambda txn: (txn.put(prefix + b"\x00" * 3, b"short key"),
                             txn.put(prefix + b"\x01" * 32, b"x" * (17 << 20))))
    sm.start()
    assert run(sm, "kv", "get a", "scan -")[1] == "ok a,b"
    ok(sm.cli("kv", "purge", "kv"))
    assert run(sm, "kv", "scan -") == ["ok"]
    assert run(sm, "kv", "put c 3")[0].startswith("ok ")
    sm.stop()
    sm.start()
    assert run(sm, "kv", "get c")[0].startswith("ok 3 ")
    info = ok(sm.cli("kv", "info", "kv")).decode()
    assert "integrity ok" in info, info
