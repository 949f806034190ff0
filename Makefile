# Atlas - the two commands are `make run` and `make check` (see README.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps run check test asan lint format bench clean

all: build

deps:
	@./scripts/install-deps.sh build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATLAS_WERROR=ON

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@./scripts/run.sh

check:
	@./scripts/check.sh

# Tests of the plain build only (no install, no sanitizers).
test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

asan: deps
	CC=clang cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DATLAS_SANITIZE=ON \
	    -DATLAS_FUZZ=ON -DATLAS_WERROR=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

lint:
	@./scripts/checksrc.sh
	@./scripts/format.sh --check

format:
	@./scripts/format.sh

bench: build
	@./bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
