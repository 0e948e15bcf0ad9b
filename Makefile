# CCX broker build.  `make` builds bin/ccx-broker and bin/ccx-admin;
# `make run` and `make test` first install whatever Debian packages are
# missing, so both work on a fresh Debian 12 machine.

CC       ?= gcc
BUILD    ?= build
BIN      := bin
DATA     ?= var
SANITIZE ?=

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libgnutls28-dev \
            libssl-dev liblmdb-dev libjansson-dev libcmocka-dev libargon2-dev \
            python3 python3-jwt python3-cryptography curl openssl cppcheck \
            clang-tidy clang-format valgrind chromium
PKGS     := libmicrohttpd gnutls openssl lmdb jansson libargon2

WARN := -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 \
        -Wimplicit-fallthrough -Wvla -Wcast-qual -Wpointer-arith \
        -Wwrite-strings -Wundef -Wnull-dereference -Wdouble-promotion
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT    ?= -O2 -g

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -D_DEFAULT_SOURCE -I.
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) -MMD -MP $(PKG_CFLAGS)
LDFLAGS  += -pie -Wl,-z,relro -Wl,-z,now
LDLIBS   += $(PKG_LIBS) -lpthread

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
HARDEN  := -fPIE
endif

MODULES := certs policy broker api
LIB_SRC := $(filter-out %/main.c %/admin_main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
WEB_FILES := $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/web_assets.o

BROKER_MAIN := api/main.c
ADMIN_MAIN  := broker/admin_main.c

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test unit asan-unit integration browser lint fmt valgrind clean \
        bench check-banned tidy cppcheck openapi-lint

all: deps $(BIN)/ccx-broker $(BIN)/ccx-admin

# ---- dependencies ---------------------------------------------------------

# Quiet and quick when everything is installed; `apt-get update` runs once,
# only when something is missing (a fresh machine has empty lists).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq >/dev/null && \
	  apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

# ---- build ---------------------------------------------------------------

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The page's files, compiled in: the binary serves them without a web root.
$(BUILD)/web_assets.c: $(WEB_FILES) web/embed.sh
	@mkdir -p $(dir $@)
	@sh web/embed.sh $(WEB_FILES) > $@

$(BUILD)/web_assets.o: $(BUILD)/web_assets.c
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libccx.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(AR) rcs $@ $^

$(BIN)/ccx-broker: $(BUILD)/$(BROKER_MAIN:.c=.o) $(BUILD)/libccx.a
	@mkdir -p $(BIN)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/ccx-admin: $(BUILD)/$(ADMIN_MAIN:.c=.o) $(BUILD)/libccx.a
	@mkdir -p $(BIN)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libccx.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libccx.a $(LDLIBS) -lcmocka

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- run -------------------------------------------------------------------

run: all
	@if [ ! -f $(DATA)/admin.token ]; then ./$(BIN)/ccx-admin --data $(DATA) init >/dev/null && \
	  echo "initialised $(DATA)"; fi
	@echo "CA certificate: $(abspath $(DATA))/certs/ca.pem"
	./$(BIN)/ccx-broker --data $(DATA)

# ---- tests -----------------------------------------------------------------

unit: all $(TEST_BIN)
	@for t in $(TEST_BIN); do echo "== $$t"; $$t || exit 1; done

# The same unit tests under AddressSanitizer and UBSan, in their own tree.
asan-unit: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=address,undefined \
	    OPT="-O1 -g" $(patsubst $(BUILD)/%,build/asan/%,$(TEST_BIN))
	@for t in $(patsubst $(BUILD)/%,build/asan/%,$(TEST_BIN)); do \
	    echo "== $$t (asan+ubsan)"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || exit 1; done

integration: all
	/usr/bin/python3 tests/integration/run.py

# Not part of `make test`: loads BENCH_CUSTOMERS customers (100,000 by
# default) through the store, then drives the broker and nginx with wrk.
bench: deps
	@bench/run.sh

# The page in Debian's chromium, driven by playwright-core from npm.
browser: all
	@tests/browser/run.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory asan-unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory browser

valgrind: all $(TEST_BIN)
	@for t in $(TEST_BIN); do echo "== $$t (valgrind)"; \
	    CCX_TEST_UNDER_VALGRIND=1 valgrind -q --error-exitcode=1 --leak-check=full \
	    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	    --track-fds=no $$t || exit 1; done
	/usr/bin/python3 tests/integration/run.py --valgrind

# ---- lint --------------------------------------------------------------------

lint: deps check-banned cppcheck tidy openapi-lint

openapi-lint:
	@tests/openapi/lint.sh

# After curl's list: functions with a safer alternative, never used here.
BANNED := strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|strncpy|strncat|tmpnam|mktemp
check-banned:
	@if grep -nwE '($(BANNED))[[:space:]]*\(' $(foreach m,$(MODULES),$(m)/*.c $(m)/*.h) tests/*.c; then \
	  echo "banned function used (see Makefile BANNED)"; exit 1; fi

cppcheck:
	@cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -I. \
	  $(foreach m,$(MODULES),$(m)/) tests/

tidy:
	@mkdir -p $(BUILD)
	@clang-tidy --quiet $(foreach m,$(MODULES),$(m)/*.c) -- \
	  $(CPPFLAGS) -std=c11 $(PKG_CFLAGS) 2>/dev/null | grep -E 'warning|error' > $(BUILD)/tidy.log || true; \
	  if [ -s $(BUILD)/tidy.log ]; then cat $(BUILD)/tidy.log; exit 1; fi

fmt:
	clang-format -i $(foreach m,$(MODULES),$(m)/*.c $(m)/*.h) tests/*.c

clean:
	rm -rf build $(BIN)
