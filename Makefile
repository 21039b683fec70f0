# ddm build. Everything a site changes is a variable:
#   make CC=mpicc CFLAGS="-O3 -march=native" BLAS_LIBS="-lopenblas" ...
# Dependencies are found through pkg-config (Debian's package names below).

ifeq ($(origin CC),default)
CC = mpicc
endif
PYTHON ?= /usr/bin/python3
PKG_CONFIG ?= pkg-config

HDF5_PC      ?= hdf5-openmpi
SCALAPACK_PC ?= scalapack-openmpi
BLAS_PC      ?= openblas
PNG_PC       ?= libpng

HDF5_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags $(HDF5_PC) 2>/dev/null)
HDF5_LIBS    ?= $(shell $(PKG_CONFIG) --libs $(HDF5_PC) 2>/dev/null)
BLAS_CFLAGS  ?= $(shell $(PKG_CONFIG) --cflags $(BLAS_PC) 2>/dev/null)
BLAS_LIBS    ?= $(shell $(PKG_CONFIG) --libs $(BLAS_PC) 2>/dev/null)
SCALAPACK_LIBS ?= $(shell $(PKG_CONFIG) --libs $(SCALAPACK_PC) 2>/dev/null)
PNG_CFLAGS   ?= $(shell $(PKG_CONFIG) --cflags $(PNG_PC) 2>/dev/null)
PNG_LIBS     ?= $(shell $(PKG_CONFIG) --libs $(PNG_PC) 2>/dev/null)
ZLIB_LIBS    ?= -lz

CFLAGS ?= -O2 -g
OPENMP_FLAGS ?= -fopenmp
DDM_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra $(OPENMP_FLAGS) -I. \
             $(HDF5_CFLAGS) $(BLAS_CFLAGS) $(PNG_CFLAGS) -MMD -MP
LDLIBS_ALL = $(SCALAPACK_LIBS) $(HDF5_LIBS) $(BLAS_LIBS) $(PNG_LIBS) $(ZLIB_LIBS) -lm

BUILD ?= build
BIN ?= bin
LIB_SRC  := $(wildcard core/*.c core/samplers/*.c core/tasks/*.c io/*.c mpi/*.c)
JOB_SRC  := $(wildcard jobs/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)
TESTLIB_SRC := tests/testlib.c

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
JOB_OBJ  := $(JOB_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BIN)/tests/%)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BIN)/bench/%)

.PHONY: all deps test test-slurm demo bench clean install test-asan

# make install PREFIX=/opt/ddm/VERSION [DESTDIR=staging]: the binary, the Slurm scripts,
# configs, the shipped models, docs and the Lmod modulefile (contrib/lmod/ddm.lua, with its
# prefix filled in) under $(DESTDIR)$(PREFIX):
#   bin/ddm  share/ddm/{slurm,configs,models,docs,README.md}  share/modulefiles/ddm/VERSION.lua
PREFIX ?= /usr/local
DESTDIR ?=
all: $(BIN)/ddm $(TEST_BIN) $(BENCH_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(DDM_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libddm.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/ddm: $(JOB_OBJ) $(BUILD)/libddm.a
	@mkdir -p $(dir $@)
	$(CC) $(OPENMP_FLAGS) $(LDFLAGS) -o $@.tmp $(JOB_OBJ) $(BUILD)/libddm.a $(LDLIBS_ALL)
	mv -f $@.tmp $@

$(BIN)/tests/%: $(BUILD)/tests/%.o $(TESTLIB_OBJ) $(BUILD)/libddm.a
	@mkdir -p $(dir $@)
	$(CC) $(OPENMP_FLAGS) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(BUILD)/libddm.a $(LDLIBS_ALL)

$(BIN)/bench/%: $(BUILD)/bench/%.o $(TESTLIB_OBJ) $(BUILD)/libddm.a
	@mkdir -p $(dir $@)
	$(CC) $(OPENMP_FLAGS) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(BUILD)/libddm.a $(LDLIBS_ALL)

# Install what is missing (Debian packages), then build.
deps:
	@scripts/deps.sh

# The README's test command: every test, one closing line "N passed, M failed".
test:
	@scripts/deps.sh --quiet
	@$(MAKE) --no-print-directory all
	@PYTHON=$(PYTHON) tests/run.sh $(T)

test-slurm:
	@scripts/deps.sh --quiet
	@$(MAKE) --no-print-directory all
	@PYTHON=$(PYTHON) tests/run.sh slurm

demo:
	@scripts/deps.sh --quiet
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench:
	@scripts/deps.sh --quiet
	@$(MAKE) --no-print-directory all
	@PYTHON=$(PYTHON) bench/run.sh

# make test-asan: everything built again under AddressSanitizer and UndefinedBehavior-
# Sanitizer (build-asan/, bin-asan/), then the C unit tests and a set of end-to-end runs
# (tests/asan.sh); any sanitizer report fails it.
test-asan:
	@scripts/deps.sh --quiet
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=bin-asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" bin-asan/ddm $(TEST_SRC:tests/%.c=bin-asan/tests/%)
	@PYTHON=$(PYTHON) tests/asan.sh

install: bin/ddm
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ddm/slurm \
	    $(DESTDIR)$(PREFIX)/share/ddm/configs $(DESTDIR)$(PREFIX)/share/ddm/models \
	    $(DESTDIR)$(PREFIX)/share/ddm/docs $(DESTDIR)$(PREFIX)/share/modulefiles/ddm
	install -m 755 bin/ddm $(DESTDIR)$(PREFIX)/bin/ddm
	install -m 755 slurm/pipeline.sh $(DESTDIR)$(PREFIX)/share/ddm/slurm/
	install -m 644 slurm/*.sbatch slurm/README.md $(DESTDIR)$(PREFIX)/share/ddm/slurm/
	install -m 644 configs/*.ini $(DESTDIR)$(PREFIX)/share/ddm/configs/
	install -m 644 models/*.h5 models/*.jsonl $(DESTDIR)$(PREFIX)/share/ddm/models/
	install -m 644 docs/* $(DESTDIR)$(PREFIX)/share/ddm/docs/
	install -m 644 README.md $(DESTDIR)$(PREFIX)/share/ddm/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/.*DDM_VERSION "\(.*\)".*/\1/p' core/common.h)|g' \
	    contrib/lmod/ddm.lua > $(DESTDIR)$(PREFIX)/share/modulefiles/ddm/$(shell sed -n 's/.*DDM_VERSION "\(.*\)".*/\1/p' core/common.h).lua

clean:
	rm -rf build bin build-asan bin-asan

-include $(BENCH_BIN:$(BIN)/bench/%=$(BUILD)/bench/%.d) $(LIB_OBJ:.o=.d) $(JOB_OBJ:.o=.d) $(TEST_BIN:$(BIN)/tests/%=$(BUILD)/tests/%.d) $(TESTLIB_OBJ:.o=.d)
