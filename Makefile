# Atlas - the two commands are `make run` and `make check` (see README.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
# seconds per libFuzzer target in `make fuzz` (make check runs them 5 s)
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps run check test asan tsan fuzz lint tidy format bench clean

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

# The ThreadSanitizer build and its tests (the third pass of make check).
tsan: deps
	CC=clang cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATLAS_TSAN=ON \
	    -DATLAS_WERROR=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && ctest -j $(JOBS) -L tsan --output-on-failure

# The libFuzzer targets, FUZZ_SECONDS each (the sanitizer build).
fuzz: asan
	cd $(ASAN_BUILD) && ATLAS_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest -j $(JOBS) -R '^fuzz\.' \
	    --output-on-failure --timeout $$(($(FUZZ_SECONDS) * 3 + 120))

lint:
	@./scripts/checksrc.sh
	@./scripts/format.sh --check

tidy:
	@BUILD=$(BUILD) ./scripts/tidy.sh

format:
	@./scripts/format.sh

bench: build
	@./bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)

# ---------------------------------------------------------------------------
# Installing (docs/install.md).  `make install PREFIX=/usr/local DESTDIR=...`
# copies what `make build` built; `make uninstall` (same variables) removes
# it again.  `make deb` builds the Debian packages (debian/) into $(DEB_OUT).
# This block belongs to packaging; the test targets are above.
PREFIX        ?= /usr/local
BINDIR        ?= $(PREFIX)/bin
LIBDIR        ?= $(PREFIX)/lib
INCLUDEDIR    ?= $(PREFIX)/include
DATADIR       ?= $(PREFIX)/share
MANDIR        ?= $(DATADIR)/man
DOCDIR        ?= $(DATADIR)/doc/atlas
PKGCONFIGDIR  ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR   ?= $(PREFIX)/lib/tmpfiles.d
# where python3 finds packages for this prefix (Debian: dist-packages)
PYTHONDIR     ?= $(shell /usr/bin/python3 packaging/python-dir.py "$(PREFIX)")
DEB_OUT       ?= $(BUILD)/deb
VERSION       := $(shell sed -n 's/^project.atlas VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
INSTALL       ?= install

.PHONY: install uninstall man deb

man: $(BUILD)/man/atlas.1
$(BUILD)/man/atlas.1: $(BUILD)/atlas $(BUILD)/atlasd docs/configuration.md packaging/man/gen-man.py
	/usr/bin/python3 packaging/man/gen-man.py --bin $(BUILD) --src . --out $(BUILD)/man

# what install writes, relative to DESTDIR (uninstall removes the same)
INSTALLED = $(BINDIR)/atlas $(BINDIR)/atlasd $(BINDIR)/atlas-init \
    $(MANDIR)/man1/atlas.1 $(MANDIR)/man8/atlasd.8 $(MANDIR)/man5/atlas.config.yaml.5 \
    $(DATADIR)/bash-completion/completions/atlas $(DATADIR)/zsh/vendor-completions/_atlas \
    $(DATADIR)/fish/vendor_completions.d/atlas.fish \
    $(INCLUDEDIR)/atlas_agent.h $(LIBDIR)/libatlas-agent.a $(PKGCONFIGDIR)/atlas-agent.pc \
    $(SYSTEMDUNITDIR)/atlasd.service $(SYSTEMDUNITDIR)/atlas-node.service \
    $(DATADIR)/atlas/atlas.config.yaml.example \
    $(if $(SYSUSERSDIR),$(SYSUSERSDIR)/atlas.conf) $(if $(TMPFILESDIR),$(TMPFILESDIR)/atlas.conf)
INSTALLED_TREES = $(PYTHONDIR)/atlas $(DATADIR)/atlas/examples $(DOCDIR)

install:
	@test -x $(BUILD)/atlas -a -x $(BUILD)/atlasd -a -x $(BUILD)/atlas-init || $(MAKE) build
	@$(MAKE) --no-print-directory man
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR)/bash-completion/completions \
	    $(DESTDIR)$(DATADIR)/zsh/vendor-completions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d \
	    $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(PYTHONDIR) $(DESTDIR)$(DATADIR)/atlas \
	    $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 755 $(BUILD)/atlas $(BUILD)/atlasd $(BUILD)/atlas-init $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(BUILD)/man/atlas.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(BUILD)/man/atlasd.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 644 $(BUILD)/man/atlas.config.yaml.5 $(DESTDIR)$(MANDIR)/man5/
	$(BUILD)/atlas completion bash >$(DESTDIR)$(DATADIR)/bash-completion/completions/atlas
	$(BUILD)/atlas completion zsh >$(DESTDIR)$(DATADIR)/zsh/vendor-completions/_atlas
	$(BUILD)/atlas completion fish >$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/atlas.fish
	$(INSTALL) -m 644 sdk/c/atlas_agent.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(BUILD)/libatlas_agent_sdk.a $(DESTDIR)$(LIBDIR)/libatlas-agent.a
	sed -e 's|@prefix@|$(PREFIX)|' -e 's|@includedir@|$(INCLUDEDIR)|' -e 's|@libdir@|$(LIBDIR)|' \
	    -e 's|@version@|$(VERSION)|' packaging/pkgconfig/atlas-agent.pc.in \
	    >$(DESTDIR)$(PKGCONFIGDIR)/atlas-agent.pc
	for u in atlasd atlas-node; do \
	    sed -e 's|@bindir@|$(BINDIR)|g' -e 's|@pythondir@|$(PYTHONDIR)|g' \
	        packaging/systemd/$$u.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service; done
	$(INSTALL) -m 644 packaging/config/atlas.config.yaml \
	    $(DESTDIR)$(DATADIR)/atlas/atlas.config.yaml.example
	if [ -n "$(SYSUSERSDIR)" ]; then $(INSTALL) -d $(DESTDIR)$(SYSUSERSDIR) && \
	    $(INSTALL) -m 644 packaging/sysusers/atlas.conf $(DESTDIR)$(SYSUSERSDIR)/; fi
	if [ -n "$(TMPFILESDIR)" ]; then $(INSTALL) -d $(DESTDIR)$(TMPFILESDIR) && \
	    $(INSTALL) -m 644 packaging/tmpfiles/atlas.conf $(DESTDIR)$(TMPFILESDIR)/; fi
	rm -rf $(DESTDIR)$(PYTHONDIR)/atlas && cp -r sdk/python/atlas $(DESTDIR)$(PYTHONDIR)/
	rm -rf $(DESTDIR)$(DATADIR)/atlas/examples && cp -r examples $(DESTDIR)$(DATADIR)/atlas/
	cp -r docs/. README.md $(DESTDIR)$(DOCDIR)/
	find $(DESTDIR)$(PYTHONDIR)/atlas $(DESTDIR)$(DATADIR)/atlas/examples \
	    \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
	find $(DESTDIR)$(DATADIR)/atlas/examples -name agent -type f -exec rm -f {} +
	find $(DESTDIR)$(PYTHONDIR)/atlas $(DESTDIR)$(DATADIR)/atlas/examples $(DESTDIR)$(DOCDIR) \
	    -type d -exec chmod 755 {} + -o -type f -exec chmod go+r,go-w {} +

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rm -rf $(addprefix $(DESTDIR),$(INSTALLED_TREES))
	-rmdir -p $(sort $(dir $(addprefix $(DESTDIR),$(INSTALLED) $(INSTALLED_TREES)))) \
	    $(DESTDIR)$(DATADIR)/atlas 2>/dev/null

# dpkg-buildpackage from a copy of the tree (the build writes debian/ and
# the C examples' binaries; the checkout stays clean)
deb:
	@./scripts/build-deb.sh $(DEB_OUT)
