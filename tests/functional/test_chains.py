"""Data objects and chains end to end (docs/chains.md): chains as lines and DAGs (fan-out,
fan-in) through the CLI, calls within calls (cit_invoke) with their grants, depth and
cycle limits, the object quota, and the attacks on objects: a consumer writing, growing or
remapping its input, a producer changing its output after it was sealed, forged and stale
references, one function reaching another's object."""
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from test_monitor import EXAMPLES, Monitor, build_source

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def cm(tmp_path_factory):
    """A monitor with the example functions deployed: echo, upper (its output a data
    object), concat (fan-in), crash."""
    tmp = tmp_path_factory.mktemp("chains")
    m = Monitor(tmp).start()
    for name in ("echo", "upper", "concat", "crash"):
        m.deploy(name)
    m.tmp = tmp
    m.objfn = build_source(tmp, "objects_fn", (HERE / "objects_fn.c").read_text())
    yield m
    m.stop()


def ok(r):
    assert r.returncode == 0, r.stderr
    return r.stdout


def deploy_mode(m, name, mode, *opts):
    ok(m.cli("deploy", name, str(m.objfn), "--env", f"MODE={mode}", *opts))


def test_a_line_passes_each_output_on(cm):
    """chain create NAME f1 f2 f3: each step's output is the next one's input; large
    outputs (data objects) go through unchanged, byte for byte."""
    assert ok(cm.cli("chain", "create", "shout", "echo", "upper", "echo")) == b"created chain shout (3 steps)\n"
    assert ok(cm.cli("chain", "invoke", "shout", "--data", "hello, chain")) == b"HELLO, CHAIN"
    big = os.urandom(3 << 20).hex().encode()  # 6 MiB: data objects all the way
    assert ok(cm.cli("chain", "invoke", "shout", input=big)) == big.upper()
    listed = json.loads(ok(cm.cli("chain", "ls", "--json")))
    shout = next(c for c in listed if c["name"] == "shout")
    assert [s["function"] for s in shout["steps"]] == ["echo", "upper", "echo"]
    assert [s["name"] for s in shout["steps"]] == ["echo", "upper", "echo-2"]
    assert shout["final"] == "echo-2"
    assert b"shout" in ok(cm.cli("chain", "ls"))


def test_a_dag_fans_out_and_in(cm, tmp_path):
    """A manifest's steps in any order: one output to two steps at once, and a step after
    both, which gets their outputs as a list, in the manifest's order of steps."""
    manifest = tmp_path / "dag.json"
    manifest.write_text(json.dumps({"steps": [
        {"name": "join", "function": "concat", "after": ["loud", "plain"]},
        {"name": "start", "function": "echo"},
        {"name": "loud", "function": "upper", "after": "start"},
        {"name": "plain", "function": "echo", "after": ["start"]},
    ]}))
    assert ok(cm.cli("chain", "create", "dag", "--manifest", str(manifest))) == b"created chain dag (4 steps)\n"
    assert ok(cm.cli("chain", "invoke", "dag", "--data", "Mixed Case")) == b"loud: MIXED CASE\nplain: Mixed Case\n"
    big = b"ab" * (40 << 10)  # 80 KiB: both branches get the same object
    out = ok(cm.cli("chain", "invoke", "dag", input=big))
    assert out == b"loud: " + big.upper() + b"\nplain: " + big + b"\n"


def test_a_failing_step_stops_the_chain_and_is_named(cm):
    ok(cm.cli("chain", "create", "boom", "echo", "crash", "upper"))
    r = cm.cli("chain", "invoke", "boom", "--data", "x")
    assert r.returncode == 1
    assert b"chain boom failed at step crash (function crash)" in r.stderr, r.stderr
    assert b"signal" in r.stderr  # the reason: the instance crashed
    # The chain goes on working for the next call, and the other chains too.
    assert ok(cm.cli("chain", "invoke", "shout", "--data", "still")) == b"STILL"


def test_chains_have_names_of_their_own(cm):
    """A chain may share a name with a function: invoke and chain invoke reach each."""
    ok(cm.cli("chain", "create", "upper", "upper", "echo"))
    assert ok(cm.cli("invoke", "upper", "--data", "f")) == b"F"
    assert ok(cm.cli("chain", "invoke", "upper", "--data", "c")) == b"C"
    ok(cm.cli("chain", "rm", "upper"))
    r = cm.cli("chain", "invoke", "upper", "--data", "c")
    assert r.returncode == 1 and b"no chain named 'upper'" in r.stderr
    assert ok(cm.cli("invoke", "upper", "--data", "f")) == b"F"  # the function stays


@pytest.mark.parametrize("steps,says", [
    ([{"name": "a", "function": "echo", "after": "b"}, {"name": "b", "function": "echo", "after": "a"}],
     b"cycle"),
    ([{"name": "a", "function": "echo"}, {"name": "b", "function": "echo"}], b"exactly one final step"),
    ([{"name": "a", "function": "echo", "after": "nobody"}], b"which is no step of this chain"),
    ([{"name": "a", "function": "echo"}, {"name": "a", "function": "upper"}], b"two steps are named a"),
    ([{"name": "Bad Name", "function": "echo"}], b"is not a valid name"),
    ([{"name": "a", "function": "echo", "what": 1}], b"unknown key \"what\""),
    ([{"name": "a", "function": "nosuchfn"}], b"no function named 'nosuchfn'"),
])
def test_bad_chains_are_refused_with_why(cm, tmp_path, steps, says):
    manifest = tmp_path / "bad.json"
    manifest.write_text(json.dumps({"steps": steps}))
    r = cm.cli("chain", "create", "bad", "--manifest", str(manifest))
    assert r.returncode != 0 and says in r.stderr, r.stderr
    assert b"\"bad\"" not in ok(cm.cli("chain", "ls", "--json"))


def test_limits_and_usage(cm):
    r = cm.cli("chain", "create", "long", *(["echo"] * 33))
    assert r.returncode == 2 and b"1 to 32 steps" in r.stderr
    r = cm.cli("chain", "create", "x")
    assert r.returncode == 2 and b"no functions given" in r.stderr
    r = cm.cli("chain", "frob")
    assert r.returncode == 2 and b"unknown subcommand 'frob'" in r.stderr
    assert ok(cm.cli("chain", "--help")).startswith(b"usage: citadel chain create")
    r = cm.cli("chain", "rm", "nochain")
    assert r.returncode == 1 and b"no chain named 'nochain'" in r.stderr


def test_an_exec_function_is_a_step_but_not_a_fan_in(cm, tmp_path):
    ok(cm.cli("deploy", "wc", "--", "/usr/bin/wc", "-c"))
    ok(cm.cli("chain", "create", "count", "upper", "wc"))
    assert ok(cm.cli("chain", "invoke", "count", "--data", "12345")).strip() == b"5"
    manifest = tmp_path / "fanin.json"
    manifest.write_text(json.dumps({"steps": [{"name": "a", "function": "echo"}, {"name": "b", "function": "echo"},
                                              {"name": "n", "function": "wc", "after": ["a", "b"]}]}))
    r = cm.cli("chain", "create", "fanin", "--manifest", str(manifest))
    assert r.returncode == 1 and b"an exec function cannot be a fan-in step" in r.stderr


def test_chains_survive_a_restart(tmp_path):
    m = Monitor(tmp_path).start()
    try:
        m.deploy("upper")
        ok(m.cli("chain", "create", "kept", "upper", "upper"))
    finally:
        m.stop()
    m = Monitor(tmp_path).start()
    try:
        assert ok(m.cli("chain", "invoke", "kept", "--data", "again")) == b"AGAIN"
    finally:
        m.stop()


# ---- calls within calls ---------------------------------------------------------------


def test_a_function_invokes_another_it_was_granted(cm):
    ok(cm.cli("deploy", "relay", str(EXAMPLES / "relay.so"), "--env", "CALLEE=upper", "--allow-invoke", "upper"))
    assert ok(cm.invoke("relay", "through relay")) == b"THROUGH RELAY"
    big = b"z" * (1 << 20)
    assert ok(cm.cli("invoke", "relay", input=big)) == big.upper()
    # Not granted: refused, with why.
    ok(cm.cli("deploy", "sneak", str(EXAMPLES / "relay.so"), "--env", "CALLEE=echo"))
    r = cm.invoke("sneak", "x")
    assert r.returncode == 1 and b"no function to invoke" in r.stderr, r.stderr
    ok(cm.cli("deploy", "sneak2", str(EXAMPLES / "relay.so"), "--env", "CALLEE=echo", "--allow-invoke", "upper"))
    r = cm.invoke("sneak2", "x")
    assert r.returncode == 1 and b"may not invoke echo" in r.stderr, r.stderr


def test_calls_within_calls_have_a_depth_limit_and_no_cycles(cm):
    # r0 -> r1 -> ... -> r9 -> upper: ten deep, past the limit of 8.
    for i in range(10):
        callee = f"r{i + 1}" if i < 9 else "upper"
        ok(cm.cli("deploy", f"r{i}", str(EXAMPLES / "relay.so"), "--env", f"CALLEE={callee}",
                  "--allow-invoke", callee))
    assert ok(cm.invoke("r3", "deep enough")) == b"DEEP ENOUGH"  # r3..r9, upper: 7 calls deep
    r = cm.invoke("r0", "too deep")
    assert r.returncode == 1 and b"8 deep at most" in r.stderr, r.stderr
    # a -> b -> a: a cycle, refused when b tries.
    ok(cm.cli("deploy", "ca", str(EXAMPLES / "relay.so"), "--env", "CALLEE=cb", "--allow-invoke", "cb"))
    ok(cm.cli("deploy", "cb", str(EXAMPLES / "relay.so"), "--env", "CALLEE=ca", "--allow-invoke", "ca"))
    r = cm.invoke("ca", "round")
    assert r.returncode == 1 and b"ca is already among this call's callers" in r.stderr, r.stderr


def test_the_callees_time_counts_against_the_callers_deadline(cm):
    deploy_mode(cm, "slow", "slow")
    deploy_mode(cm, "waits", "invoke", "--env", "CALLEE=slow", "--allow-invoke", "slow", "--timeout", "100ms")
    t = time.monotonic()
    r = cm.invoke("waits", "input")
    assert r.returncode == 1 and b"timed out" in r.stderr, r.stderr
    assert time.monotonic() - t < 2
    deploy_mode(cm, "waits-long", "invoke", "--env", "CALLEE=slow", "--allow-invoke", "slow", "--timeout", "2s")
    assert ok(cm.invoke("waits-long", "input")) == b"input"


# ---- attacks on objects ------------------------------------------------------------------


def flags(out):
    """The consumer's report: {"mprotect": "EACCES", ...} and what it saw."""
    report, seen = out.split(b"|", 1)
    return dict(kv.split("=") for kv in report.decode().split()), seen


def test_a_consumer_cannot_change_its_input(cm, tmp_path):
    """The consumer gets the producer's sealed object: writing, growing or remapping it
    writable fails, and a sibling reading the same object sees the producer's bytes."""
    deploy_mode(cm, "consumer", "consumer")
    manifest = tmp_path / "attack.json"
    manifest.write_text(json.dumps({"steps": [
        {"name": "make", "function": "upper"},
        {"name": "attack", "function": "consumer", "after": "make"},
        {"name": "sibling", "function": "echo", "after": "make"},
        {"name": "join", "function": "concat", "after": ["attack", "sibling"]}]}))
    ok(cm.cli("chain", "create", "attack", "--manifest", str(manifest)))
    data = b"q" * 50000  # a data object, not inline bytes
    out = ok(cm.cli("chain", "invoke", "attack", input=data))
    attack_line, sibling_line = out.split(b"\n")[:2]
    report, seen = flags(attack_line[len(b"attack: "):])
    assert report["mprotect"] != "ALLOWED" and report["mremap"] != "ALLOWED", report
    # No fd of the object is left open to it (to reopen, remap, or keep past the call),
    # and its mapping's file cannot be opened again.
    assert report["fd"] == "none" and report["mapfiles"] != "ALLOWED", report
    assert report["procmem"] != "ALLOWED", report
    assert seen == b"Q" * 16
    assert sibling_line == b"sibling: " + b"Q" * 50000


def test_a_consumer_that_keeps_its_input_mapped_ends_with_its_call(cm):
    """A mapping of the input moved where the runtime does not unmap it would keep the
    producer's pages alive past the call, outside every quota: the instance ends after that
    call instead (the next call is served by a fresh one), and the monitor says why in the
    function's log."""
    deploy_mode(cm, "mover", "mover", "--max-instances", "1")
    assert ok(cm.cli("invoke", "mover", input=b"m" * 100000)) == b"1 moved"
    assert ok(cm.cli("invoke", "mover", input=b"m" * 100000)) == b"1 moved"  # a new instance
    assert ok(cm.invoke("mover", "inline")) == b"1 not moved"  # inline bytes: nothing to keep
    assert ok(cm.invoke("mover", "inline")) == b"2 not moved"  # the same instance
    assert b"still held after it" in ok(cm.cli("logs", "mover"))


def test_a_caller_that_keeps_a_results_descriptor_ends_with_its_call(cm):
    """A thread that duplicates a cit_invoke result's fd in the moment it is open (before the
    runtime maps and closes it) would keep the callee's pages alive: after the call the
    runtime finds the descriptor, and the instance ends (the next call gets a fresh one)."""
    deploy_mode(cm, "bigout", "big", "--env", "SIZE=1048576")
    deploy_mode(cm, "thief", "fdthief", "--env", "CALLEE=bigout", "--allow-invoke", "bigout", "--max-instances", "1")
    caught = seen = 0
    for _ in range(40):  # the thread wins its race now and then: until it has, and once after
        served, kept = map(int, ok(cm.invoke("thief", "x")).split())
        if caught:
            assert served == 1, (served, kept)  # the instance that kept one has ended
            seen += 1
            break
        caught = kept
    if not seen:
        pytest.skip("the thread never caught a descriptor in its window")
    assert b"still held after it" in ok(cm.cli("logs", "thief"))


def test_a_producer_cannot_change_its_output_after_the_call(cm):
    """It kept a duplicate of its output's fd: once sealed, writes, truncation and a
    writable mapping through it fail, and its caller's bytes stay as returned."""
    deploy_mode(cm, "keeper", "keeper", "--max-instances", "1")
    first = ok(cm.invoke("keeper", "original bytes"))
    assert first == b"original bytes" + bytes(65536)
    report = ok(cm.invoke("keeper", "second call")).decode()
    assert "pwrite=EPERM" in report and "ftruncate=EPERM" in report and "mmapw=EPERM" in report, report


def test_an_output_still_mapped_writable_is_refused(cm):
    deploy_mode(cm, "map2", "map2")
    r = cm.invoke("map2", "x")
    assert r.returncode == 1 and b"could not be sealed" in r.stderr, r.stderr


def test_forged_and_stale_references_are_refused(cm):
    deploy_mode(cm, "forge", "forge")
    for ref in ("1", "2", "99999999", "18446744073709551615"):
        r = cm.invoke("forge", ref)
        assert r.returncode == 1 and b"forged or stale" in r.stderr, r.stderr
    deploy_mode(cm, "stale", "stale", "--max-instances", "1")
    ref = ok(cm.cli("invoke", "stale", input=b"s" * 40000))  # a data object: it has a reference
    assert int(ref) > 0
    r = cm.invoke("stale", "next call")
    assert r.returncode == 1 and b"forged or stale" in r.stderr, r.stderr


def test_one_function_cannot_reach_anothers_object(cm):
    """A call names objects only by references its own call was given: another call's
    reference, even one still live, is refused."""
    deploy_mode(cm, "slowholder", "slow")
    deploy_mode(cm, "thief", "invoke", "--env", "CALLEE=echo", "--allow-invoke", "echo")
    with ThreadPoolExecutor(2) as ex:
        held = ex.submit(cm.cli, "invoke", "slowholder", input=b"secret" * 10000)
        time.sleep(0.1)
        # References are numbers handed out in order: try the neighbourhood of the live one.
        for guess in range(1, 200):
            r = cm.invoke("thief", str(guess))
            assert r.returncode == 1 and b"forged or stale" in r.stderr, (guess, r.stderr)
        assert ok(held.result()) == b"secret" * 10000
    # Its own input, handed on, works.
    assert ok(cm.cli("invoke", "thief", "--data", "input")) == b"input"


def test_the_object_quota_holds_under_a_flood(cm):
    """A function's live objects count against its --object-quota: past it, the output is
    refused with a clear error; the monitor lives on, and the bytes are freed as chains
    end, so later calls succeed."""
    deploy_mode(cm, "big", "big", "--env", "SIZE=700000", "--object-quota", "1M", "--max-instances", "4")
    deploy_mode(cm, "holder", "slow", "--max-instances", "4")
    ok(cm.cli("chain", "create", "hold", "big", "holder"))
    # One at a time fits (700 KB held while holder runs).
    assert len(ok(cm.cli("chain", "invoke", "hold", "--data", "x"))) == 700000
    # Two big ones held at once do not: big -> big, the first held while the second is made.
    ok(cm.cli("chain", "create", "twice", "big", "big"))
    r = cm.cli("chain", "invoke", "twice", "--data", "x")
    assert r.returncode == 1 and b"--object-quota of 1 MiB" in r.stderr, r.stderr
    assert b"at step big-2" in r.stderr
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: cm.cli("chain", "invoke", "hold", "--data", "x"), range(16)))
    refused = [r for r in results if r.returncode]
    assert all(b"--object-quota" in r.stderr for r in refused), [r.stderr for r in refused]
    assert len(refused) < 16
    assert len(ok(cm.cli("chain", "invoke", "hold", "--data", "x"))) == 700000


def test_python_functions_use_objects(cm, tmp_path):
    """citadel.output, context.input, citadel.invoke and fan-in lists in Python."""
    (tmp_path / "shout.py").write_text(
        "import citadel\n"
        "def handle(event, context):\n"
        "    buf = citadel.output(len(event))\n"
        "    memoryview(buf)[:] = bytes(event).upper()\n"
        "    return buf\n")
    (tmp_path / "join.py").write_text(
        "import citadel\n"
        "def handle(event, context):\n"
        "    if isinstance(event, list):\n"
        "        return b'+'.join(o.step.encode() + b'=' + bytes(o) for o in event)\n"
        "    out = citadel.invoke('pyshout', context.input)\n"
        "    assert (context.input.ref > 0) == (len(event) > 32768), 'a data object has a reference'\n"
        "    return out\n")
    ok(cm.cli("deploy", "pyshout", str(tmp_path / "shout.py")))
    ok(cm.cli("deploy", "pyjoin", str(tmp_path / "join.py"), "--allow-invoke", "pyshout"))
    assert ok(cm.invoke("pyshout", "snake")) == b"SNAKE"
    assert ok(cm.invoke("pyjoin", "hand on")) == b"HAND ON"
    big = b"w" * 100000
    assert ok(cm.cli("invoke", "pyjoin", input=big)) == big.upper()
    manifest = tmp_path / "py.json"
    manifest.write_text(json.dumps({"steps": [
        {"name": "a", "function": "pyshout"}, {"name": "b", "function": "echo"},
        {"name": "j", "function": "pyjoin", "after": ["a", "b"]}]}))
    ok(cm.cli("chain", "create", "pydag", "--manifest", str(manifest)))
    assert ok(cm.cli("chain", "invoke", "pydag", "--data", "py")) == b"a=PY+b=py"


def test_objects_whose_size_lies_or_that_are_not_sealed_are_refused(cm):
    """A raw client's CHAIN_INVOKE (51) and INVOKE (2) with a data object: an obj_len that
    is not the memfd's size, or a memfd without its seals, is refused with why, and the
    monitor goes on."""
    import fcntl
    import socket
    import struct
    from test_monitor import PAYLOADS, header, replies
    ok(cm.cli("chain", "create", "rawc", "echo"))
    for type_, name in ((51, b"rawc"), (2, b"echo")):
        for size, claimed, seal in ((4096, 100, True), (4096, 1 << 20, True), (4096, 4096, False)):
            fd = os.memfd_create("lie", os.MFD_ALLOW_SEALING)
            os.write(fd, b"l" * size)
            if seal:
                fcntl.fcntl(fd, 1033, 1 | 2 | 4 | 8)  # F_ADD_SEALS: seal, shrink, grow, write
            payload = struct.pack(PAYLOADS[2], 0, 0, claimed, name, 0, 0, b"")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(cm.sock)
            socket.send_fds(s, [header(type_, 9, len(payload), nfds=1) + payload], [fd])
            os.close(fd)
            got = replies(s, 10, until=lambda got: got)
            s.close()
            assert got and got[0][0] == 17, (type_, size, claimed, seal, got)
    assert ok(cm.cli("chain", "invoke", "rawc", "--data", "fine")) == b"fine"


def test_a_python_view_kept_past_its_call_ends_the_instance(cm, tmp_path):
    """A memoryview of context.input kept in a global would point at unmapped memory after
    the call: the instance ends after that call instead, and the next call gets a fresh one
    (its globals anew); an Object used after its call raises BufferError."""
    (tmp_path / "keep.py").write_text(
        "import citadel\n"
        "calls, kept, old = [], [], []\n"
        "def handle(event, context):\n"
        "    calls.append(1)\n"
        "    if event == b'keep':\n"
        "        kept.append(memoryview(context.input))\n"
        "    if event == b'old':\n"
        "        if old:\n"
        "            try:\n"
        "                bytes(old[0])\n"
        "            except BufferError as e:\n"
        "                return f'{len(calls)} BufferError: {e}'\n"
        "        old.append(context.input)\n"
        "    return str(len(calls))\n")
    ok(cm.cli("deploy", "keep", str(tmp_path / "keep.py"), "--max-instances", "1"))
    assert ok(cm.invoke("keep", "a")) == b"1"
    assert ok(cm.invoke("keep", "b")) == b"2"  # the same instance
    assert ok(cm.invoke("keep", "keep")) == b"3"
    assert ok(cm.invoke("keep", "c")) == b"1"  # a fresh instance
    assert ok(cm.invoke("keep", "old")) == b"2"
    assert ok(cm.invoke("keep", "old")) == b"3 BufferError: the call this object belonged to has ended"


def test_a_failed_output_buffer_leaves_the_handler_its_answer(cm, tmp_path):
    """cit_output / citadel.output past the output limit fails (EFBIG, ValueError) and the
    handler may still answer otherwise; citadel.InvokeError carries .code and .text."""
    src = tmp_path / "fallback.c"
    src.write_text('#include <errno.h>\n#include <citadel/function.h>\n'
                   'int cit_handler(const struct cit_request *req, struct cit_response *resp) {\n'
                   '    if (!cit_output(resp, 64u << 20) && errno == EFBIG)\n'
                   '        return cit_respondf(resp, "too big, said so");\n'
                   '    return cit_fail(resp, -22, "no EFBIG");\n}\n')
    so = build_source(tmp_path, "fallback", src.read_text())
    ok(cm.cli("deploy", "fallback", str(so)))
    assert ok(cm.invoke("fallback", "x")) == b"too big, said so"
    (tmp_path / "pyfall.py").write_text(
        "import citadel\n"
        "def handle(event, context):\n"
        "    try:\n"
        "        citadel.output(1 << 40)\n"
        "    except ValueError:\n"
        "        pass\n"
        "    try:\n"
        "        citadel.invoke('nosuch', b'x')\n"
        "    except citadel.InvokeError as e:\n"
        "        return f'{e.code} {e.text}'\n")
    ok(cm.cli("deploy", "pyfall", str(tmp_path / "pyfall.py"), "--allow-invoke", "upper"))
    out = ok(cm.invoke("pyfall", "x")).decode()
    assert out.startswith("-1 ") and "may not invoke nosuch" in out, out
