# Makefile — builds build/autoprune, build/libautoprune.{a,so} (the embeddable scorer), build/libapcore.a (the
# rest, internal), the C tests; runs tests, sanitizers, fuzzers, the layering, format and Lua checks.
# Sources are found by room (folder); ROOMS lists them lowest first. libautoprune is stdlib/ + vm/sandbox/, so an
# embedder links neither curl nor readline; libapcore.a is models/*/ + vm/ + vm/llm/ + vm/host/; vm/cli/ is the
# program. tests/c/test_*.c each become one test binary.

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
PUB_PKGS := lua5.4 openblas
PKGS    := $(PUB_PKGS) libcurl libcjson
DEB_BUILD_PKGS := build-essential pkg-config liblua5.4-dev libopenblas-dev liblapacke-dev libcurl4-openssl-dev libcjson-dev libreadline-dev
DEB_TEST_PKGS  := python3-numpy python3-torch python3-sentencepiece python3-regex valgrind clang libclang-rt-14-dev chromium man-db clang-format lua-check

ROOMS   := stdlib models/format models/tokenizer models/forward models/prune vm/sandbox vm/llm vm vm/host vm/cli
WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wvla
OPT     ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += $(addprefix -I,$(ROOMS)) -D_GNU_SOURCE -DAP_VERSION='"$(VERSION)"' -DAP_DATADIR='"$(DATADIR)"'
CFLAGS  += -std=c11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -pthread $(PKG_CFLAGS) $(SAN)
PUB_LIBS := $(shell pkg-config --libs $(PUB_PKGS) 2>/dev/null) -lm -pthread
LDLIBS  += $(PKG_LIBS) -llapacke -lreadline -lm -pthread
LDFLAGS += $(SAN)

VERSION := 0.1.0
DATADIR ?= $(CURDIR)

PUB_SRC  := $(sort $(wildcard stdlib/*.c vm/sandbox/*.c))
CORE_SRC := $(sort $(wildcard models/*/*.c vm/*.c vm/llm/*.c vm/host/*.c))
CLI_SRC  := $(sort $(wildcard vm/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/c/test_*.c))
PUB_OBJ  := $(PUB_SRC:%.c=$(BUILD)/obj/%.o)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
# What a program built against the internals needs (tests' C drivers, tools/, fuzz targets): $(BUILD)/internal.flags
INTERNAL_LIBS := $(BUILD)/libapcore.a $(BUILD)/libautoprune.a

.PHONY: all deps test-deps run test asan fuzz bench install clean lint
all: $(BUILD)/libautoprune.a $(BUILD)/libautoprune.so $(BUILD)/libapcore.a $(BUILD)/autoprune $(TEST_BIN) \
     $(BUILD)/internal.flags

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libautoprune.a: $(PUB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# -z defs: the public library must resolve against Lua, OpenBLAS and libm alone (no curl, cJSON, readline).
$(BUILD)/libautoprune.so: $(PUB_OBJ)
	$(CC) -shared -Wl,-z,defs $(LDFLAGS) -o $@ $^ $(PUB_LIBS)

$(BUILD)/libapcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/autoprune: $(CLI_OBJ) $(INTERNAL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(INTERNAL_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/c/%.c $(INTERNAL_LIBS) tests/c/aptest.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/c $(LDFLAGS) -o $@ $< $(INTERNAL_LIBS) $(LDLIBS)

# Line 1: compile flags, line 2: what to link, for programs built against the internals outside this Makefile.
$(BUILD)/internal.flags: Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n%s\n' "$(addprefix -I$(CURDIR)/,$(ROOMS)) -D_GNU_SOURCE $(PKG_CFLAGS)" \
	    "$(abspath $(INTERNAL_LIBS)) $(LDLIBS)" >$@

# Install missing Debian packages (as root) or print the command that would.
deps:
	@tools/deps.sh $(DEB_BUILD_PKGS)
test-deps:
	@tools/deps.sh $(DEB_TEST_PKGS)

# The packages first, then a parallel build (a plain `make` stays serial unless asked with -j).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

run: deps
	$(MAKE) -j$(JOBS) all
	$(BUILD)/autoprune run lua/search.lua --quick

# T=NAME runs the units whose path contains NAME (make test T=hostile, T=layers, T=test_tensor).
test: deps test-deps
	$(MAKE) -j$(JOBS) all
	AP_BUILD=$(BUILD) tests/run.sh $(T)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build folder.
asan: deps test-deps
	$(MAKE) -j$(JOBS) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 AP_SANITIZED=1 AP_BUILD=build-asan tests/run.sh $(T)

fuzz: deps test-deps
	tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

bench: all
	@for b in bench/stdlib bench/eval bench/prune; do [ -x $$b ] && $$b; done

# The C sources clang-format owns (.clang-format): all but the generated Unicode tables and the fuzz corpora.
FORMAT_SRC = $(shell find stdlib models vm tests tools bench -name '*.[ch]' -not -path 'tests/fuzz/*/*' \
                 -not -name ap_unicode_tables.h | sort)
.PHONY: format format-check
format:
	clang-format -i $(FORMAT_SRC)

# Fails and lists the files `make format` would change.
format-check:
	@bad=$$(for f in $(FORMAT_SRC); do clang-format "$$f" | cmp -s "$$f" - || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "clang-format would change these files (make format applies it):"; \
	    echo "$$bad" | sed 's/^/    /'; exit 1; fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/autoprune $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/autoprune $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libautoprune.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libautoprune.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 vm/sandbox/autoprune.h $(DESTDIR)$(PREFIX)/include/
	cp -r lua prompts data $(DESTDIR)$(PREFIX)/share/autoprune/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' autoprune.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/autoprune.pc
	[ ! -f doc/autoprune.1 ] || install -m 644 doc/autoprune.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf build build-asan build-fuzz

-include $(PUB_OBJ:.o=.d) $(CORE_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# Lua lint: luacheck (Debian's lua-check) over lua/, with the settings in .luacheckrc.
lint:
	luacheck lua/
