#!/bin/sh
# Lines of C (without blank lines and comment-only lines) in the monitor process, citadeld
# (its trusted base), beside the rest of Citadel.   bench/tcb.sh [--json | --files] [BUILD]
#
# Counted from the build (default: build/, made by `make`): the objects the linker took
# into citadeld (its map, citadeld.map: its own sources and the members of the static
# libraries it needed), the source each was compiled from (compile_commands.json) and the
# headers of this tree each included (ninja -t deps). Files the build generates (the
# seccomp program compiled from src/sandbox/policy.c) are listed with --files, not
# counted. Outside the trusted base: what citadel-zygote and citadel are built from,
# less what they share with citadeld.
#
# --json: {"monitor", "sandbox_and_common", "tcb", "runtime_untrusted", "cli_outside"},
# lines each (bench/monitor_bench.py records it).
cd "$(dirname "$0")/.." || exit 1
mode=text
case ${1:-} in --json) mode=json; shift ;; --files) mode=files; shift ;; esac
build=${1:-build}
for f in "$build/compile_commands.json" "$build/citadeld.map" "$build/citadel.map"; do
	if [ ! -f "$f" ]; then
		echo "tcb.sh: $f is missing: run make first" >&2
		exit 1
	fi
done
exec /usr/bin/python3 - "$mode" "$build" <<'EOF'
import json, os, re, subprocess, sys

mode, build = sys.argv[1], sys.argv[2]
root = os.getcwd()
commands = {e["output"]: e for e in json.load(open(os.path.join(build, "compile_commands.json")))}

# ninja -t deps: "OBJECT: #deps N, ..." then the files it read, indented.
deps, obj = {}, None
out = subprocess.run(["ninja", "-C", build, "-t", "deps"], capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    if line.startswith(" ") and obj:
        deps[obj].append(line.strip())
    elif line.strip():
        obj = line.split(":", 1)[0]
        deps[obj] = []


def linked(target):
    """The objects of ours the linker took into target: from its map when it has one,
    else every object compiled for it."""
    path = os.path.join(build, target + ".map")
    if not os.path.exists(path):
        return [o for o in commands if o.startswith(target + ".p/")]
    objs, section = [], None
    for line in open(path):
        if line.startswith("Archive member included"):
            section = "archive"
        elif line.startswith(("Discarded input sections", "Allocating common", "Memory Configuration")):
            section = None
        elif line.startswith("LOAD "):
            objs.append(line.split()[1])
        elif section == "archive" and line[:1] not in (" ", "\n", "/"):
            m = re.match(r"(\S+\.a)\((\S+)\)$", line.strip())  # a member of a regular archive
            objs.append(m.group(1) + ".p/" + m.group(2) if m else line.split()[0])
    return [o for o in objs if o in commands]


def files(target):
    """The files of this tree target is built from, and the generated ones, as paths
    relative to the tree."""
    ours, generated = set(), set()
    for o in linked(target):
        src = os.path.normpath(os.path.join(build, commands[o]["file"]))
        for f in [src] + [os.path.normpath(os.path.join(build, d)) for d in deps.get(o, [])]:
            full = os.path.realpath(f)
            if not full.startswith(root + "/"):
                continue
            rel = os.path.relpath(full, root)
            (generated if rel.startswith(os.path.normpath(build) + "/") else ours).add(rel)
    if not ours:
        sys.exit(f"tcb.sh: nothing of {target} found in {build}: run make first")
    return ours, generated


def lines(path):
    n = 0
    for line in open(path, errors="replace"):
        s = line.strip()
        n += bool(s) and not s.startswith(("/*", "*", "//"))
    return n


tcb, tcb_generated = files("citadeld")
runtime = files("citadel-zygote")[0] - tcb
cli = files("citadel")[0] - tcb
sandbox = {f for f in tcb if f.startswith(("src/sandbox/", "src/common/"))}
count = lambda fs: sum(lines(f) for f in fs)
res = {"monitor": count(tcb - sandbox), "sandbox_and_common": count(sandbox), "tcb": count(tcb),
       "runtime_untrusted": count(runtime), "cli_outside": count(cli)}
if mode == "json":
    print(json.dumps(res))
elif mode == "files":
    for name, fs in (("monitor", tcb - sandbox), ("sandbox_and_common", sandbox), ("runtime_untrusted", runtime),
                     ("cli_outside", cli)):
        for f in sorted(fs):
            print(f"{name:20} {lines(f):6}  {f}")
    for f in sorted(tcb_generated):
        print(f"{'generated':20} {'-':>6}  {f} (in citadeld, not counted)")
else:
    print("inside the monitor process, citadeld (trusted base):")
    print(f"  src/monitor, state, proto, objects, spec, ...{res['monitor']:6}")
    print(f"  src/sandbox, src/common (what it uses)      {res['sandbox_and_common']:6}")
    print(f"  total                                       {res['tcb']:6}")
    print("outside it:")
    print(f"  citadel-zygote (the runtime, sandboxed)     {res['runtime_untrusted']:6}")
    print(f"  citadel (the CLI and citadel run)           {res['cli_outside']:6}")
EOF
