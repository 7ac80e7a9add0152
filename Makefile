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

.PHONY: all deps build build-san run test test-fast fuzz clean

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

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
