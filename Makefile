# Front door. `make` builds, `make test` runs every test (plain and sanitizer builds),
# `make run` demonstrates Citadel, `make bench` measures it. Each installs the Debian
# packages it needs on first use (scripts/deps.sh).
PY      := /usr/bin/python3
BUILD   := build
ASAN    := build-asan

.PHONY: all deps test run bench clean unit asan

all: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD)
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh build

asan: deps
	@[ -f $(ASAN)/build.ninja ] || meson setup $(ASAN) -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all asan
	meson test -C $(BUILD) --print-errorlogs
	meson test -C $(ASAN) --print-errorlogs
	@scripts/fuzz.sh 20
	@scripts/pytest.sh $(ASAN)
	@scripts/pytest.sh $(BUILD)

# Serves on $CITADEL_SOCKET, keeps the functions in $CITADEL_STATE_DIR (README.md).
run: all
	@scripts/demo.sh $(BUILD)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@# The bench's own programs want libraries the build did not look for before (h2o).
	@[ -x $(BUILD)/httplib_hello ] || { meson setup --reconfigure $(BUILD) >/dev/null && ninja -C $(BUILD); }
	$(PY) bench/sandbox_bench.py
	$(PY) bench/monitor_bench.py
	$(PY) bench/http_bench.py
	$(PY) bench/python_bench.py
	$(PY) bench/chain_bench.py
	$(PY) bench/state_bench.py
	$(PY) bench/attest_bench.py

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz
