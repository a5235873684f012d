# plateau build. `make` builds everything (binary, tests, benchmarks) with no
# warnings; `make test` and `make run` first install missing Debian packages.

CC      ?= gcc
PKGS    := openblas libcjson inih sqlite3 zlib libzstd gsl
OPT     ?= -O3 -march=native
CFLAGS  += $(OPT) -std=gnu11 -fopenmp -Wall -Wextra -g -MMD -MP -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# oneDNN (libdnnl-dev) ships no pkg-config file in Debian 12. GSL's own CBLAS
# is left out: its cblas_* symbols would shadow OpenBLAS's (GSL documents
# linking any CBLAS in its place).
LDLIBS  += $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS) 2>/dev/null)) -ldnnl -lm
LDFLAGS += -fopenmp

BUILD   := build
BIN     := plateau

# SANITIZE=1: the same build with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, every report fatal, in build/sanitize (the
# binary too, so ./plateau stays the optimised one). SANITIZE=fuzzer: the
# same plus libFuzzer's coverage, in build/fuzzer, for `make fuzz`.
ifneq ($(SANITIZE),)
CC      := clang
OPT     := -O2 -march=native
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS  += -Wno-pass-failed   # clang notes on loops the instrumented build leaves unvectorised
BUILD   := build/sanitize
ifeq ($(SANITIZE),fuzzer)
BUILD   := build/fuzzer
CFLAGS  += -fsanitize=fuzzer-no-link
endif
CFLAGS  += $(SAN)
LDFLAGS += $(SAN)
BIN     := $(BUILD)/plateau
endif

# MPI (OpenMPI) for data-parallel training and studies over ranks, when
# `pkg-config ompi-c` or mpicc is present; otherwise (or with `make MPI=0`)
# the same CLI as one process. Only src/dist/comm.c includes mpi.h.
MPI ?= auto
ifneq ($(MPI),0)
  MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
  MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
  ifeq ($(MPI_LIBS),)
    MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null)
    MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
  endif
endif
ifneq ($(MPI_LIBS),)
  MPI_CFLAGS += -DPLATEAU_MPI
  LDLIBS     += $(MPI_LIBS)
endif
# Rebuild comm.o when the MPI choice changes (the file holds the flags used).
MPI_STAMP := $(BUILD)/mpi-flags
$(shell mkdir -p $(BUILD); echo '$(MPI_CFLAGS)' | cmp -s - $(MPI_STAMP) || echo '$(MPI_CFLAGS)' > $(MPI_STAMP))

LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC:= $(wildcard tests/test_*.c)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
BENCH_SRC:= $(wildcard bench/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB     := $(BUILD)/libplateau.a

# fuzz/: one harness per loader, each also linked into a plain replay driver
# that `make test` runs over the harness's corpus in fuzz/corpus/<name>.
FUZZ_NAMES   := safetensors checkpoint tokenizer shard chat task study
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZERS      := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60

.PHONY: all deps test run clean bench fuzz fuzz-build
all: $(BIN) $(TESTS) $(BENCHES) $(FUZZ_REPLAYS)

deps:
	@sh scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/src/dist/comm.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/src/dist/comm.o: $(MPI_STAMP)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Test programs may use the helpers in tests/support/ (fixture reading).
$(BUILD)/tests/%.o: CFLAGS += -Itests
$(BUILD)/tests/support/%.o: CFLAGS += -Itests
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fuzz/%.o: CFLAGS += -Ifuzz
$(FUZZ_REPLAYS:=.o): $(BUILD)/fuzz/replay_%.o: fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_CORPUS='"fuzz/corpus/$*"' -c $< -o $@
$(FUZZ_REPLAYS): $(BUILD)/fuzz/replay_%: $(BUILD)/fuzz/replay_%.o $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/fuzz_common.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@
# The libFuzzer binaries (SANITIZE=fuzzer only).
$(FUZZERS): $(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/fuzz_common.o $(LIB)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

# The two commands of the README. Each step is its own make so that the
# package install finishes before pkg-config flags are read.
# SANITIZE=1 runs the whole suite, CLI tests included, under the sanitizers.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@PLATEAU_BIN=$(abspath $(BIN)) sh tests/run.sh $(TESTS) $(FUZZ_REPLAYS)

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory plateau
	@sh scripts/run-default.sh

bench: all
	@for b in $(BENCHES); do echo "== $$b"; $$b; done

# Runs every harness for FUZZ_SECONDS each, one after the other, on one
# core, growing its corpus in fuzz/corpus/<name> (merge and minimise with
# scripts/fuzz-merge.sh before committing). Anything found is written to
# build/fuzzer/crashes/ and stops the run.
fuzz:
	@$(MAKE) --no-print-directory SANITIZE=fuzzer fuzz-build
	@mkdir -p build/fuzzer/crashes
	@for f in $(FUZZ_NAMES); do \
	    echo "== fuzz $$f: $(FUZZ_SECONDS)s"; \
	    build/fuzzer/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
	        -artifact_prefix=build/fuzzer/crashes/$$f- fuzz/corpus/$$f || exit 1; \
	done

fuzz-build: $(FUZZERS)

# Writes the checkpoint harnesses' seeds (scripts/fuzz-seed.sh).
$(BUILD)/fuzz/seed: $(BUILD)/fuzz/seed.o $(BUILD)/fuzz/fuzz_common.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

clean:
	rm -rf build plateau

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d) $(TEST_SUPPORT_OBJ:.o=.d) \
         $(wildcard $(BUILD)/fuzz/*.d)
