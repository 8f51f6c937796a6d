# Build and install depmod-rs for packagers: the binary, its manual pages and the bash, zsh
# and fish completions. Cargo does the building; this file drives it and copies the results.
#
#   make                                        # cargo build --release (--locked)
#   make install DESTDIR=/tmp/pkg PREFIX=/usr   # staged install for a package
#   make uninstall DESTDIR=/tmp/pkg PREFIX=/usr # removes exactly what install added
#   make MODULE_DIR=/usr/lib/modules            # default module directory of the build
#   make deb                                    # Debian package under target/debian/
#
# install builds only if $(DEPMOD_BIN) does not exist, so `make && sudo make install` does
# not run cargo as root. It records the directories it had to create in $(STATEDIR), one
# file per set of directory variables; uninstall removes those directories again when they
# are empty and leaves every directory that existed before alone. Without that record (e.g.
# after `make clean`), uninstall removes the files only.

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
# Hooks that remove the scan cache with its kernel (Debian's kernel packages, kernel-install).
SYSCONFDIR ?= /etc
POSTRMDIR ?= $(SYSCONFDIR)/kernel/postrm.d
KERNELINSTALLDIR ?= $(PREFIX)/lib/kernel/install.d
CARGO ?= cargo
DEPMOD_BIN ?= target/release/depmod
INSTALL ?= install
STATEDIR ?= target/make-install

# The crate reads DEPMOD_MODULE_DIR at build time (the default of -m).
CARGO_ENV = $(if $(MODULE_DIR),DEPMOD_MODULE_DIR='$(MODULE_DIR)')
LOCKED = $(if $(wildcard Cargo.lock),--locked)

MAN5 = man/depmod.d.5 man/modules.dep.5
MAN8 = man/depmod.8

# The record of created directories for this DESTDIR and these directories.
MANIFEST = $(STATEDIR)/dirs-$(shell printf '%s\n' '$(DESTDIR)' '$(SBINDIR)' '$(MANDIR)' \
	'$(BASHCOMPDIR)' '$(ZSHCOMPDIR)' '$(FISHCOMPDIR)' '$(POSTRMDIR)' '$(KERNELINSTALLDIR)' \
	| cksum | cut -d' ' -f1)

# Shell helpers for the recipes: `run` echoes a command and runs it; `mkd DIR` creates DIR
# like `install -d`, first appending to $manifest every missing directory on the way.
SHELL_HELPERS = run() { echo "$$*"; "$$@"; }; \
	mkd() { \
		p="$$1"; \
		while [ ! -d "$$p" ]; do printf '%s\n' "$$p" >>"$$manifest"; p=$$(dirname "$$p"); done; \
		run $(INSTALL) -d "$$1"; \
	}

.PHONY: all install uninstall deb check clean

all:
	$(CARGO_ENV) $(CARGO) build --release $(LOCKED)

$(DEPMOD_BIN):
	$(CARGO_ENV) $(CARGO) build --release $(LOCKED)
	@test -e '$@' || { echo "$@ does not exist after the build (set DEPMOD_BIN)" >&2; exit 1; }

install: $(DEPMOD_BIN)
	@set -e; $(SHELL_HELPERS); \
	if mkdir -p '$(STATEDIR)' 2>/dev/null; then manifest='$(MANIFEST)'; else \
		manifest=/dev/null; \
		echo "note: cannot write $(STATEDIR); uninstall will not remove directories" >&2; \
	fi; \
	mkd '$(DESTDIR)$(SBINDIR)'; \
	run $(INSTALL) -m 0755 '$(DEPMOD_BIN)' '$(DESTDIR)$(SBINDIR)/depmod'; \
	mkd '$(DESTDIR)$(MANDIR)/man8'; \
	run $(INSTALL) -m 0644 $(MAN8) '$(DESTDIR)$(MANDIR)/man8/'; \
	mkd '$(DESTDIR)$(MANDIR)/man5'; \
	run $(INSTALL) -m 0644 $(MAN5) '$(DESTDIR)$(MANDIR)/man5/'; \
	if [ -f completions/depmod.bash ]; then \
		mkd '$(DESTDIR)$(BASHCOMPDIR)'; \
		run $(INSTALL) -m 0644 completions/depmod.bash '$(DESTDIR)$(BASHCOMPDIR)/depmod'; \
	fi; \
	if [ -f completions/_depmod ]; then \
		mkd '$(DESTDIR)$(ZSHCOMPDIR)'; \
		run $(INSTALL) -m 0644 completions/_depmod '$(DESTDIR)$(ZSHCOMPDIR)/_depmod'; \
	fi; \
	if [ -f completions/depmod.fish ]; then \
		mkd '$(DESTDIR)$(FISHCOMPDIR)'; \
		run $(INSTALL) -m 0644 completions/depmod.fish '$(DESTDIR)$(FISHCOMPDIR)/depmod.fish'; \
	fi; \
	mkd '$(DESTDIR)$(POSTRMDIR)'; \
	run $(INSTALL) -m 0755 hooks/kernel-postrm.d-depmod-rs-cache '$(DESTDIR)$(POSTRMDIR)/depmod-rs-cache'; \
	mkd '$(DESTDIR)$(KERNELINSTALLDIR)'; \
	run $(INSTALL) -m 0755 hooks/50-depmod-rs-cache.install '$(DESTDIR)$(KERNELINSTALLDIR)/50-depmod-rs-cache.install'

uninstall:
	@set -e; $(SHELL_HELPERS); \
	run rm -f '$(DESTDIR)$(SBINDIR)/depmod' \
		'$(DESTDIR)$(MANDIR)/man8/depmod.8' \
		'$(DESTDIR)$(MANDIR)/man5/depmod.d.5' \
		'$(DESTDIR)$(MANDIR)/man5/modules.dep.5' \
		'$(DESTDIR)$(BASHCOMPDIR)/depmod' \
		'$(DESTDIR)$(ZSHCOMPDIR)/_depmod' \
		'$(DESTDIR)$(FISHCOMPDIR)/depmod.fish' \
		'$(DESTDIR)$(POSTRMDIR)/depmod-rs-cache' \
		'$(DESTDIR)$(KERNELINSTALLDIR)/50-depmod-rs-cache.install'; \
	manifest='$(MANIFEST)'; \
	if [ -f "$$manifest" ]; then \
		LC_ALL=C sort -ru "$$manifest" | while IFS= read -r d; do \
			if [ -d "$$d" ] && rmdir "$$d" 2>/dev/null; then echo "rmdir $$d"; fi; \
		done; \
		rm -f "$$manifest"; \
	fi

# The Debian package (see scripts/make-deb): this install, kmod's depmod diverted aside.
deb: $(DEPMOD_BIN)
	scripts/make-deb '$(DEPMOD_BIN)'

check:
	$(CARGO_ENV) $(CARGO) test --release $(LOCKED)

clean:
	$(CARGO) clean
