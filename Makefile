# SPDX-License-Identifier: Apache-2.0
# The two commands: `make demo` and `make test`. Both install what is missing first
# (scripts/setup.sh, idempotent), then build.
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc)
# Tests run in parallel: OpenMP threads that spin while idle would steal the other tests' cores.
CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=/usr/bin/python3

.PHONY: all setup build test test-sanitize demo fuzz bench format clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && OMP_WAIT_POLICY=PASSIVE ctest -j $(JOBS) --output-on-failure

# ASan + UBSan build of the library and the unit tests (CI runs this too).
test-sanitize: setup
	@cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQFORGE_SANITIZE=ON \
	  -DPython3_EXECUTABLE=/usr/bin/python3 > /dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@cd $(BUILD_ASAN) && OMP_WAIT_POLICY=PASSIVE ASAN_OPTIONS=detect_leaks=1 ctest -j $(JOBS) --output-on-failure

demo: build
	@bash scripts/demo.sh $(BUILD)

fuzz: setup
	@bash scripts/fuzz.sh

bench: build
	@bash bench/run_bench.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	@rm -rf $(BUILD) $(BUILD_ASAN) build-fuzz
