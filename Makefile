# The two commands of the README: `make run` and `make test`.
# Both install missing Debian packages first (tools/deps.sh), then build
# with CMake into build/.

BUILD      ?= build
SAN_BUILD  ?= build-san
DATA       ?= data
LISTEN     ?= 127.0.0.1:7400
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

# make fuzz: each libFuzzer target for FUZZ_SECONDS, FUZZ_JOBS at a time, on
# corpora kept in FUZZ_CORPUS between runs (FUZZ_TARGETS: only these).
FUZZ_SECONDS ?= 600
FUZZ_CORPUS  ?= $(BUILD)/fuzz-corpus
FUZZ_JOBS    ?= $(JOBS)
FUZZ_TARGETS ?=

# make powerloss: the power-loss test at length (tests/it_powerloss.c):
# POWERLOSS_CUTS cut points in the log of POWERLOSS_SALES sales, each with
# POWERLOSS_SUBSETS random subsets of the unflushed writes besides none and
# all, 16 MiB preallocated as in production. make test runs it small.
POWERLOSS_CUTS    ?= 2000
POWERLOSS_SALES   ?= 2000
POWERLOSS_SUBSETS ?= 4


# make damage: DAMAGE_FLIPS randomised damage trials of a data directory
# (tests/it_damage.c), from DAMAGE_SEED (empty: the time; the run prints it).
DAMAGE_FLIPS ?= 2000
DAMAGE_SEED  ?=

.PHONY: all deps build build-san run test test-fast fuzz powerloss damage clean

all: build

deps:
	@sh tools/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACCRUE_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DACCRUE_SANITIZE=ON -DACCRUE_WERROR=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)

# Start the daemon in the foreground with data in ./data on 127.0.0.1:7400.
run: build
	./$(BUILD)/accrued --data $(DATA) --listen $(LISTEN)

# The whole suite, on the optimised build and again under ASan + UBSan.
test: build build-san
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2
	cd $(SAN_BUILD) && ctest --output-on-failure --timeout 900 -j 2

# The optimised build's suite only.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2

# A long fuzzing run of every codec target (tests/fuzz/README.md); needs
# clang and libFuzzer, which tools/deps.sh installs.
fuzz: build
	sh tests/fuzz/fuzz_all.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_CORPUS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

powerloss: build
	ACCRUED_BIN=$(abspath $(BUILD))/accrued ACCRUECTL_BIN=$(abspath $(BUILD))/accruectl \
	ACCRUE_CHECK_BIN=$(abspath $(BUILD))/accrue-check \
	POWERLOSS_SHIM=$(abspath $(BUILD))/tests/libaccrue_powerloss_shim.so POWERLOSS_PREALLOC_MIB=16 \
	POWERLOSS_CUTS=$(POWERLOSS_CUTS) POWERLOSS_SALES=$(POWERLOSS_SALES) POWERLOSS_SUBSETS=$(POWERLOSS_SUBSETS) \
	POWERLOSS_MAX_FAILURES=10 $(abspath $(BUILD))/tests/it_powerloss

# A long randomised damage run: random bit flips and truncations of a rich
# data directory, each checked by accrue-check and started by accrued (no
# signal, no fresh start, no wrong data). Run directly rather than through
# ctest, whose per-test timeout would cut a long run short.
damage: build
	cd $(BUILD) && ACCRUED_BIN=$$PWD/accrued ACCRUECTL_BIN=$$PWD/accruectl ACCRUE_CHECK_BIN=$$PWD/accrue-check \
		DAMAGE_FLIPS=$(DAMAGE_FLIPS) DAMAGE_SEED=$(DAMAGE_SEED) ./tests/it_damage

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
