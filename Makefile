# SPDX-License-Identifier: MIT
# vmcisim: one build. `make` (binary at ./vmcisim), `make test`, `make asan`, `make bench`,
# `make run`, `make clean`. Dependencies come through pkg-config (scripts/install-deps).

PKGS      := lua5.4 sqlite3 cunit libxxhash
# Real programs' sandbox (sim/exec/sandbox*.c): its seccomp filter.
PKGS      += libseccomp
CC        ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs lua5.4 sqlite3 libxxhash 2>/dev/null)
PKG_LIBS   += $(shell pkg-config --libs libseccomp 2>/dev/null)
CUNIT_LIBS := $(shell pkg-config --libs cunit 2>/dev/null)

CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -Wall -Wextra -Werror -g -I. $(PKG_CFLAGS)
OPT         ?= -O2
BUILD       ?= build
CFLAGS_ALL  := $(CFLAGS_BASE) $(OPT) $(EXTRA_CFLAGS)
LDLIBS_ALL  := $(PKG_LIBS) -lm -pthread $(EXTRA_LDFLAGS)

LIB_SRCS  := $(wildcard sim/engine/*.c sim/trace/*.c vmci/*.c vsock/*.c sim/lua/*.c sim/export/*.c)
LIB_SRCS  += $(wildcard sim/exec/*.c)
CLI_SRCS  := $(wildcard sim/cli/*.c)
TEST_SRCS := $(wildcard tests/unit/*.c)
BENCH_SRCS := $(wildcard bench/*.c)

LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_OBJS  := $(TEST_SRCS:%.c=$(BUILD)/%.o)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/%.o)
DEPS       := $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BENCH_OBJS:.o=.d)

.PHONY: all test asan bench run clean check-deps
all: vmcisim

check-deps:
	@pkg-config --exists $(PKGS) || { echo "missing build dependencies ($(PKGS)): run scripts/install-deps as root" >&2; exit 1; }

$(BUILD)/%.o: %.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# sim/engine/data_hash_avx2.c alone is built for AVX2, data_hash_avx512.c alone for AVX-512
# (copy and hash in one pass); the code that calls them checks the CPU first
# (sim/engine/data_hash.c).
ifeq ($(shell uname -m),x86_64)
$(BUILD)/sim/engine/data_hash_avx2.o: CFLAGS_ALL += -mavx2
$(BUILD)/sim/engine/data_hash_avx512.o: CFLAGS_ALL += -mavx512f
endif

$(BUILD)/libvmcisim.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vmcisim: $(CLI_OBJS) $(BUILD)/libvmcisim.a
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJS) $(BUILD)/libvmcisim.a $(LDLIBS_ALL)

vmcisim: $(BUILD)/vmcisim
	cp $< $@

# The summary_tables suite tests sim/cli's summary tables: the inspect and summary files
# of sim/cli (not main.c; the suite brings its own cli_usage) and option_once.c,
# duration_option.c and help_option.c, which inspect.c calls, are linked in.
UNIT_CLI_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard sim/cli/inspect*.c sim/cli/summary*.c) \
                   sim/cli/option_once.c sim/cli/duration_option.c sim/cli/help_option.c)
$(BUILD)/unit_tests: $(TEST_OBJS) $(UNIT_CLI_OBJS) $(BUILD)/libvmcisim.a
	$(CC) $(CFLAGS_ALL) -o $@ $(TEST_OBJS) $(UNIT_CLI_OBJS) $(BUILD)/libvmcisim.a $(LDLIBS_ALL) \
	    $(CUNIT_LIBS)

$(BUILD)/bench_runner: $(BENCH_OBJS) $(BUILD)/libvmcisim.a
	$(CC) $(CFLAGS_ALL) -o $@ $(BENCH_OBJS) $(BUILD)/libvmcisim.a $(LDLIBS_ALL)

# The programs tests/unit/exec_sandbox_test.c starts inside the program sandbox: built with
# the base flags only (never sanitized, even under `make asan`: they run as real programs
# outside the simulator), and once statically linked, which the sandbox must refuse; and a
# library that stands in for the shim.
SANDBOX_PROBES := $(BUILD)/tests/programs/sandbox_probe $(BUILD)/tests/programs/sandbox_probe_static \
                  $(BUILD)/tests/programs/sandbox_preload.so
$(BUILD)/tests/programs/sandbox_probe: tests/programs/sandbox_probe.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O2 -o $@ $<
$(BUILD)/tests/programs/sandbox_probe_static: tests/programs/sandbox_probe.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O2 -static -o $@ $<
$(BUILD)/tests/programs/sandbox_preload.so: tests/programs/sandbox_preload.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O2 -shared -fPIC -o $@ $<
$(BUILD)/unit_tests: | $(SANDBOX_PROBES)

# The test runner prints CUnit's summary, then the script tests, then one closing line
# "tests: N passed, N failed"; it exits non-zero on any failure.
test: $(BUILD)/unit_tests $(BUILD)/vmcisim vmcisim
	scripts/run-tests $(BUILD)/unit_tests $(BUILD)/vmcisim

# ASan+UBSan build of the same tests in its own build directory. The normal binary is built
# too: tests/determinism_test.sh compares the digests of both builds on every scenario.
asan: $(BUILD)/vmcisim
	$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -fno-omit-frame-pointer" \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" \
	    build/asan/unit_tests build/asan/vmcisim $(FUZZ_TARGETS:%=build/asan/fuzz/replay_%)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    scripts/run-tests build/asan/unit_tests build/asan/vmcisim

bench: $(BUILD)/bench_runner vmcisim
	$(BUILD)/bench_runner
	scripts/bench-sweep ./vmcisim
	scripts/bench-inspect ./vmcisim

# The first run: a host service and a guest client over vSockets, traced to hello.db, then
# the two commands that look into that trace.
run: vmcisim
	./vmcisim run scenarios/hello.lua --trace hello.db
	@echo "The trace is in hello.db. Look deeper:"
	@echo "  ./vmcisim inspect hello.db connections"
	@echo "  ./vmcisim export hello.db --format perfetto -o hello.json   (open in ui.perfetto.dev)"

clean:
	rm -rf build vmcisim

# ---- Installing (docs/cli.md, "Install") -----------------------------------------------------
# `make install PREFIX=/usr/local` (default) and DESTDIR for staged installs. vmcisim owns
# DOCDIR and DATADIR; in the shared folders (bin, man1, Wireshark's plugins) it touches only
# its own files, so `make uninstall` removes exactly what `make install` put there. Wireshark
# loads Lua plugins from ~/.local/lib/wireshark/plugins and its global folder (`tshark -G
# folders`, "Lua Plugins"): PREFIX=$HOME/.local lands in the first, WIRESHARK_PLUGINDIR=...
# chooses another.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/vmcisim
DATADIR     ?= $(PREFIX)/share/vmcisim
WIRESHARK_PLUGINDIR ?= $(PREFIX)/lib/wireshark/plugins
INSTALL     ?= install

INSTALL_DOCS       := $(shell find docs -type f 2>/dev/null | LC_ALL=C sort)
INSTALL_SCENARIOS  := $(shell find scenarios -name '*.lua' -type f 2>/dev/null | LC_ALL=C sort)
INSTALL_DISSECTORS := $(wildcard scripts/wireshark/*.lua)

.PHONY: install uninstall
install: vmcisim
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(DATADIR)/lua
	$(INSTALL) -m 755 vmcisim $(DESTDIR)$(BINDIR)/vmcisim
	$(INSTALL) -m 644 man/vmcisim.1 $(DESTDIR)$(MANDIR)/man1/vmcisim.1
	$(INSTALL) -m 644 lua/vmcisim.lua $(DESTDIR)$(DATADIR)/lua/vmcisim.lua
	$(INSTALL) -m 644 README.md LICENSE $(DESTDIR)$(DOCDIR)
	@echo "install docs/ -> $(DESTDIR)$(DOCDIR), scenarios/ -> $(DESTDIR)$(DATADIR)/scenarios"
	@set -e; for file in $(INSTALL_DOCS); do \
	    $(INSTALL) -D -m 644 "$$file" "$(DESTDIR)$(DOCDIR)/$${file#docs/}"; done
	@set -e; for file in $(INSTALL_SCENARIOS); do \
	    $(INSTALL) -D -m 644 "$$file" "$(DESTDIR)$(DATADIR)/$$file"; done
ifneq ($(INSTALL_DISSECTORS),)
	$(INSTALL) -d $(DESTDIR)$(WIRESHARK_PLUGINDIR)
	$(INSTALL) -m 644 $(INSTALL_DISSECTORS) $(DESTDIR)$(WIRESHARK_PLUGINDIR)
endif

# Removes the files install puts in shared folders, then vmcisim's own folders; a shared
# folder is left even when empty (other programs may use it).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vmcisim $(DESTDIR)$(MANDIR)/man1/vmcisim.1
ifneq ($(INSTALL_DISSECTORS),)
	rm -f $(addprefix $(DESTDIR)$(WIRESHARK_PLUGINDIR)/,$(notdir $(INSTALL_DISSECTORS)))
endif
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)

# ---- Fuzzing (tests/fuzz/, docs/fuzzing.md) ------------------------------------------------
# Four targets, each one file defining LLVMFuzzerTestOneInput. `make fuzz FUZZ_SECONDS=N`
# builds them with clang's libFuzzer (plus ASan and UBSan) under build/libfuzzer and runs
# each N seconds. FUZZ_SANITIZE=address or FUZZ_SANITIZE=none builds them with less
# checking, faster, in a folder of their own (docs/fuzzing.md says what each loses).
# `make test` needs no clang: it builds each target with the normal compiler and
# tests/fuzz/replay_main.c as $(BUILD)/fuzz/replay_<target>, and tests/fuzz_replay_test.sh
# replays the checked-in corpus through it (`make asan` too).
FUZZ_TARGETS  := guest peer trace lua
FUZZ_SECONDS  ?= 60
FUZZ_SANITIZE ?= address,undefined
FUZZ_COMMA    := ,
FUZZ_CHOICE   := $(subst $(FUZZ_COMMA),_,$(FUZZ_SANITIZE))
FUZZ_BUILD_address_undefined := build/libfuzzer
FUZZ_BUILD_address           := build/libfuzzer-address
FUZZ_BUILD_none              := build/libfuzzer-none
FUZZ_BUILD    := $(FUZZ_BUILD_$(FUZZ_CHOICE))
FUZZ_SANITIZERS_address_undefined := ,address,undefined -fno-sanitize-recover=undefined
FUZZ_SANITIZERS_address           := ,address
FUZZ_LDFLAGS_address_undefined    := -fsanitize=address,undefined
FUZZ_LDFLAGS_address              := -fsanitize=address
FUZZ_SUPPORT  := $(BUILD)/tests/fuzz/fuzz_support.o
# The engine's bookkeeping is left without coverage instrumentation (the file says why).
FUZZ_IGNORELIST := $(CURDIR)/tests/fuzz/coverage-ignorelist.txt
# The trace target also reads traces with `inspect`'s views and summary tables (sim/cli,
# without main.c).
FUZZ_EXTRA_trace := $(patsubst %.c,$(BUILD)/%.o,$(wildcard sim/cli/inspect*.c sim/cli/summary*.c) \
                      sim/cli/option_once.c sim/cli/duration_option.c \
                      sim/cli/help_option.c)
FUZZ_REPLAYS  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)
FUZZ_SRCS     := $(wildcard tests/fuzz/*.c)
DEPS          += $(FUZZ_SRCS:%.c=$(BUILD)/%.d)

.PHONY: fuzz fuzz-build fuzz-binaries fuzz-replays
fuzz-replays: $(FUZZ_REPLAYS)
test: $(FUZZ_REPLAYS)

define FUZZ_RULES
$(BUILD)/fuzz/replay_$(1): $(BUILD)/tests/fuzz/fuzz_$(1).o $(BUILD)/tests/fuzz/replay_main.o \
		$(FUZZ_SUPPORT) $(FUZZ_EXTRA_$(1)) $(BUILD)/libvmcisim.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_ALL) -o $$@ $$(filter %.o,$$^) $(BUILD)/libvmcisim.a $$(LDLIBS_ALL)

$(BUILD)/fuzz/fuzz_$(1): $(BUILD)/tests/fuzz/fuzz_$(1).o $(FUZZ_SUPPORT) $(FUZZ_EXTRA_$(1)) \
		$(BUILD)/libvmcisim.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_ALL) -fsanitize=fuzzer -o $$@ $$(filter %.o,$$^) $(BUILD)/libvmcisim.a \
	    $$(LDLIBS_ALL)
endef
$(foreach target,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULES,$(target))))

fuzz-binaries: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

# clang and its libFuzzer runtime come from Debian through scripts/install-deps --fuzz.
# `make fuzz-build` only builds the targets (for runs by hand, docs/fuzzing.md).
fuzz: fuzz-build
	scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	@test -n "$(FUZZ_BUILD)" || { echo "FUZZ_SANITIZE=$(FUZZ_SANITIZE): not one of" \
	    "address,undefined (the default), address, none" >&2; exit 2; }
	scripts/install-deps --fuzz
	@# Objects do not depend on the ignorelist: a changed list rebuilds them all.
	@mkdir -p $(FUZZ_BUILD)
	@cmp -s $(FUZZ_IGNORELIST) $(FUZZ_BUILD)/coverage-ignorelist.txt || \
	    { find $(FUZZ_BUILD) -name '*.o' -delete && rm -f $(FUZZ_BUILD)/libvmcisim.a && \
	      cp $(FUZZ_IGNORELIST) $(FUZZ_BUILD)/coverage-ignorelist.txt; }
	$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) \
	    OPT="-O1 -fno-omit-frame-pointer" \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link$(FUZZ_SANITIZERS_$(FUZZ_CHOICE)) \
	        -fsanitize-coverage-ignorelist=$(FUZZ_IGNORELIST)" \
	    EXTRA_LDFLAGS="$(FUZZ_LDFLAGS_$(FUZZ_CHOICE))" fuzz-binaries

# ---- Real programs (docs/programs.md) ---------------------------------------------------------
# The shim preloaded into every program `ep:exec` starts, and the example programs of
# scenarios/programs/. Both always go to build/ (not $(BUILD)): they run inside real programs,
# so the ASan build uses the same uninstrumented shim, found beside build/asan/vmcisim.
SHIM        := build/libvmcisim_shim.so
SHIM_SRCS   := $(wildcard shim/*.c)
SHIM_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O2 -I. -fPIC \
               -fno-delete-null-pointer-checks -Wno-nonnull-compare
PROGRAM_SRCS := $(wildcard scenarios/programs/*.c)
PROGRAMS     := $(PROGRAM_SRCS:scenarios/programs/%.c=build/programs/%)

$(SHIM): $(SHIM_SRCS) shim/shim_int.h sim/exec/protocol.h sim/exec/channel_shared.h
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -shared -o $@ $(SHIM_SRCS)

build/programs/%: scenarios/programs/%.c scenarios/programs/vsock_common.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o $@ $<

# bench/programs/: programs `make bench` runs through the shim (bench/bench_exec.c).
build/programs/%: bench/programs/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o $@ $<

.PHONY: programs
programs: $(SHIM) $(PROGRAMS)
bench: programs build/programs/exec_calls build/programs/exec_stream_client
all: programs
test: programs
asan: programs

# ---- Linux's vsock_test (issue 13; docs/programs.md, "Linux's vsock_test") -------------------
# Built once into build/vsock_test/ from Debian's linux-source-6.1 (scripts/install-deps), only
# tools/testing/vsock extracted, against the installed kernel headers; rebuilt only when the
# source archive changes. Without the archive `make vsock-test` says so and builds nothing.
VSOCK_TEST_ARCHIVE := /usr/src/linux-source-6.1.tar.xz
VSOCK_TEST         := build/vsock_test/vsock_test
VSOCK_TEST_CFLAGS  := -std=gnu11 -g -O2 -Wall -Werror -Wno-pointer-sign -fno-strict-overflow \
                      -fno-strict-aliasing -fno-common -U_FORTIFY_SOURCE -D_GNU_SOURCE \
                      '-DARRAY_SIZE(a)=(sizeof(a) / sizeof((a)[0]))'
.PHONY: vsock-test
vsock-test:
	@if [ -f $(VSOCK_TEST_ARCHIVE) ]; then $(MAKE) --no-print-directory $(VSOCK_TEST); \
	else echo "vsock-test: skipped: $(VSOCK_TEST_ARCHIVE) is absent (scripts/install-deps installs linux-source-6.1)"; fi
$(VSOCK_TEST): $(VSOCK_TEST_ARCHIVE)
	@rm -rf build/vsock_test/src && mkdir -p build/vsock_test/src
	tar -xJf $< -C build/vsock_test/src --strip-components=4 --wildcards \
	    'linux-source-6.1/tools/testing/vsock/*'
	$(CC) $(VSOCK_TEST_CFLAGS) -Ibuild/vsock_test/src -o $@ \
	    $(addprefix build/vsock_test/src/,vsock_test.c timeout.c control.c util.c)

-include $(DEPS)
