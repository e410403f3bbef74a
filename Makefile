# Makefile — builds build/autoprune, build/libautoprune.{a,so}, the C tests; runs tests, sanitizers, fuzzers.
# Sources are found by directory: stdlib/*.c, models/*.c, vm/*.c form the library; vm/main.c and vm/cli_*.c
# form the CLI; tests/c/test_*.c each become one test binary.

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
PKGS    := lua5.4 openblas libcurl libcjson
DEB_BUILD_PKGS := build-essential pkg-config liblua5.4-dev libopenblas-dev liblapacke-dev libcurl4-openssl-dev libcjson-dev libreadline-dev
DEB_TEST_PKGS  := python3-numpy python3-torch python3-sentencepiece python3-regex valgrind clang libclang-rt-14-dev chromium man-db

OPT     ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -Istdlib -Ivm -Imodels -D_GNU_SOURCE -DAP_VERSION='"$(VERSION)"' -DAP_DATADIR='"$(DATADIR)"'
CFLAGS  += -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -fvisibility=hidden -pthread $(PKG_CFLAGS) $(SAN)
LDLIBS  += $(PKG_LIBS) -llapacke -lreadline -lm -pthread
LDFLAGS += $(SAN)

VERSION := 0.1.0
DATADIR ?= $(CURDIR)

LIB_SRC  := $(sort $(wildcard stdlib/*.c models/*.c) $(filter-out vm/main.c vm/cli_%.c,$(wildcard vm/*.c)))
CLI_SRC  := $(sort $(wildcard vm/main.c vm/cli_*.c))
TEST_SRC := $(sort $(wildcard tests/c/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps run test asan fuzz bench install clean
all: $(BUILD)/libautoprune.a $(BUILD)/libautoprune.so $(BUILD)/autoprune $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libautoprune.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libautoprune.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/autoprune: $(CLI_OBJ) $(BUILD)/libautoprune.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libautoprune.a $(LDLIBS)

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libautoprune.a tests/c/aptest.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/c $(LDFLAGS) -o $@ $< $(BUILD)/libautoprune.a $(LDLIBS)

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

test: deps test-deps
	$(MAKE) -j$(JOBS) all
	AP_BUILD=$(BUILD) tests/run.sh

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build folder.
asan: deps test-deps
	$(MAKE) -j$(JOBS) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 AP_SANITIZED=1 AP_BUILD=build-asan tests/run.sh

fuzz: deps test-deps
	tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

bench: all
	@for b in bench/stdlib bench/eval bench/prune; do [ -x $$b ] && $$b; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/autoprune $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/autoprune $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libautoprune.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libautoprune.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 vm/autoprune.h $(DESTDIR)$(PREFIX)/include/
	cp -r lua prompts data $(DESTDIR)$(PREFIX)/share/autoprune/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' autoprune.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/autoprune.pc
	[ ! -f doc/autoprune.1 ] || install -m 644 doc/autoprune.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
