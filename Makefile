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

.PHONY: all deps test run clean bench
all: plateau $(TESTS) $(BENCHES)

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

plateau: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Test programs may use the helpers in tests/support/ (fixture reading).
$(BUILD)/tests/%.o: CFLAGS += -Itests
$(BUILD)/tests/support/%.o: CFLAGS += -Itests
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The two commands of the README. Each step is its own make so that the
# package install finishes before pkg-config flags are read.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@sh tests/run.sh $(TESTS)

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory plateau
	@sh scripts/run-default.sh

bench: all
	@for b in $(BENCHES); do echo "== $$b"; $$b; done

clean:
	rm -rf $(BUILD) plateau

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d) $(TEST_SUPPORT_OBJ:.o=.d)
