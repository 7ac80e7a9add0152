# The two commands of the README: `make run` and `make test`.
# Both install missing Debian packages first (tools/deps.sh), then build
# with CMake into build/.

BUILD      ?= build
SAN_BUILD  ?= build-san
DATA       ?= data
LISTEN     ?= 127.0.0.1:7400
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-san run test test-fast clean

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

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
