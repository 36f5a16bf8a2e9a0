# metasac: one Makefile, no other build system.
#
#   make            build the library, the programs, the tests and the benchmarks
#   make test       install dependencies if missing, build, run every Criterion test
#   make bench      run every benchmark (prints ratios against references of the same run)
#   make run        the README's main job
#   make SAN=address,undefined test   the same tests under sanitizers (separate build dir)
#   make install PREFIX=/usr/local    programs and scripts to bin/; models, sample config, presets
#                                     to share/metasac/
#   make fuzz       libFuzzer targets fuzz/fuzz_*.c (clang-14) run FUZZ_SECONDS each; make fuzz-corpus
#
# Layout convention: every */*_main.c is a program (metasac-<name>); every other .c under
# common/, learner/, actor/ goes into the static library; every tests/test_*.c is linked into
# one Criterion binary; every bench/bench_*.c is its own benchmark binary.

SAN     ?=
PREFIX  ?= /usr/local
BUILD   ?= build$(if $(SAN),-$(subst $(comma),-,$(SAN)))
comma   := ,

CC      ?= cc
PKGS    := openblas libzmq libprotobuf-c inih zlib libmicrohttpd
WARN    := -Wall -Wextra -Wpedantic -Werror -Wvla -Wshadow -Wstrict-prototypes
OPT     ?= -O3
# -fno-trapping-math: we never trap on FP exceptions, and without it GCC keeps a branch per
# element in the ReLU masks; it changes no result (unlike -ffast-math, which we never use).
CFLAGS  := -std=c11 $(OPT) -g -fno-fast-math -fno-trapping-math -fno-math-errno $(WARN) -D_GNU_SOURCE
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif
CPPFLAGS := -I. -Icommon -Ilearner -Iactor -I$(BUILD)/gen \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
            -DMETASAC_SOURCE_DIR='"$(CURDIR)"' -DMETASAC_PREFIX='"$(PREFIX)"'
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lmujoco -lm -lpthread
# Per-program extra libraries, LDLIBS_<name> for metasac-<name>: only metasac-eval renders
# (MuJoCo's mjr_* in an EGL context), so only it links EGL.
LDLIBS_eval := -lEGL

PROTOS     := $(wildcard proto/*.proto)
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H    := $(PROTO_C:.c=.h)
MAIN_SRC   := $(wildcard learner/*_main.c actor/*_main.c common/*_main.c)
LIB_SRC    := $(filter-out $(MAIN_SRC),$(wildcard common/*.c common/tasks/*.c learner/*.c actor/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
BENCH_SRC  := $(wildcard bench/bench_*.c)

LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(PROTO_C:.c=.o)
PROGRAMS   := $(foreach m,$(MAIN_SRC),$(BUILD)/bin/metasac-$(patsubst %_main,%,$(basename $(notdir $(m)))))
TEST_BIN   := $(BUILD)/tests/metasac-tests
BENCH_BIN  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
LIB        := $(BUILD)/libmetasac.a

.PHONY: all deps test bench run install clean
.SECONDARY:
all: $(LIB) $(PROGRAMS) $(TEST_BIN) $(BENCH_BIN)

deps:
	@deploy/install-deps.sh

# Generated protobuf code lives in the build directory only.
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

# protobuf-c's generated code is not ours: build it without -Wpedantic/-Werror.
$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) -std=c11 $(OPT) -g $(if $(SAN),-fsanitize=$(SAN)) $(CPPFLAGS) -w -c $< -o $@

$(BUILD)/%.o: %.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/metasac-%: $(BUILD)/learner/%_main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(LDLIBS_$*) -o $@
$(BUILD)/bin/metasac-%: $(BUILD)/actor/%_main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(LDLIBS_$*) -o $@
$(BUILD)/bin/metasac-%: $(BUILD)/common/%_main.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(TEST_BIN): $(patsubst %.c,$(BUILD)/%.o,$(TEST_SRC)) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Tests run from the source root (they read tests/data and common/tasks/models).
# OPENBLAS_NUM_THREADS=1: Criterion runs tests in parallel processes; never oversubscribe.
test: deps
	@$(MAKE) --no-print-directory $(TEST_BIN) $(PROGRAMS)
	OPENBLAS_NUM_THREADS=1 METASAC_BIN_DIR=$(CURDIR)/$(BUILD)/bin \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	$(TEST_BIN) --jobs 2 $(TEST_ARGS)

bench: deps
	@$(MAKE) --no-print-directory $(BENCH_BIN) $(PROGRAMS)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done
	@echo "== bench/blas/compare.sh"; BUILD=$(BUILD) sh bench/blas/compare.sh

# The main job: Meta-SAC on Hopper with a learner, two actors and an evaluator on this machine.
# Extra learner flags: make run RUN_ARGS="--seed=2 --total_steps=300000".
run: deps
	@$(MAKE) --no-print-directory $(PROGRAMS)
	$(BUILD)/bin/metasac-run --task=hopper --algo=meta_sac --actors=2 $(RUN_ARGS)

# Programs and the scripts (metasac-sweep finds metasac-run next to itself) to bin/; the task
# models, the sample config and the paper's presets (deploy/presets) to share/metasac/.
install: $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/metasac/models \
	    $(DESTDIR)$(PREFIX)/share/metasac/presets
	install -m 755 $(PROGRAMS) deploy/metasac-plot deploy/metasac-sweep $(DESTDIR)$(PREFIX)/bin/
	install -m 644 common/tasks/models/*.xml $(DESTDIR)$(PREFIX)/share/metasac/models/
	install -m 644 deploy/metasac.conf.sample $(DESTDIR)$(PREFIX)/share/metasac/
	install -m 644 deploy/presets/*.conf $(DESTDIR)$(PREFIX)/share/metasac/presets/

clean:
	rm -rf build build-*

# Fuzzing: every fuzz/fuzz_*.c is a libFuzzer target. The library is rebuilt by clang-14 with
# the sanitizers in build-fuzz/ (same rules, SAN=fuzzer-no-link,...); each target runs for
# FUZZ_SECONDS over a scratch copy of its seeds fuzz/corpus/NAME/ in build-fuzz/corpus/NAME/, so
# the committed corpus never grows. Crashes land in build-fuzz/crash/. FUZZ_ARGS adds flags.
# One process, one target at a time (no -jobs: libFuzzer's -jobs writes fuzz-N.log into the cwd).
# `make fuzz-corpus` regenerates the seeds (fuzz/make_corpus.c) after a format change.
# fuzz/coverage-ignore.txt and fuzz/sanitize-ignore.txt are compiler flags: rm -rf build-fuzz
# after editing them (make does not track flags).
FUZZ_CC      ?= clang-14
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-build fuzz-corpus
fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/crash
	@for t in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t && cp fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus/$$t/ && \
	    echo "== fuzz_$$t: $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz_$$t.log)" && \
	    if ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} $(FUZZ_BUILD)/fuzz/bin/fuzz_$$t \
	        -max_len=65536 -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/crash/$$t- $(FUZZ_ARGS) $(FUZZ_BUILD)/corpus/$$t \
	        >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1; \
	    then grep -E '^Done [0-9]+ runs' $(FUZZ_BUILD)/fuzz_$$t.log; \
	    else tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; echo "fuzz_$$t FAILED"; exit 1; fi; \
	done
fuzz-build:
	@deploy/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) \
	    CC="$(FUZZ_CC) -fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt \
	        -fsanitize-ignorelist=fuzz/sanitize-ignore.txt" \
	    SAN=fuzzer-no-link,address,undefined $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/bin/fuzz_%)
$(BUILD)/fuzz/bin/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $(FUZZ_LDFLAGS_$*) $^ $(LDLIBS) -o $@
# fuzz_checkpoint recycles the loader's 16 MiB record buffer (see fuzz/fuzz_checkpoint.c).
FUZZ_LDFLAGS_checkpoint := -Wl,--wrap=rl__malloc -Wl,--wrap=free
fuzz-corpus: deps
	@$(MAKE) --no-print-directory $(BUILD)/fuzz/make_corpus
	$(BUILD)/fuzz/make_corpus fuzz/corpus
$(BUILD)/fuzz/make_corpus: $(BUILD)/fuzz/make_corpus.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
