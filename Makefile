# SPDX-License-Identifier: GPL-2.0
#
# egpuhp top-level build.
#
#   make                      module (running kernel, or KDIR=...) + userspace
#   make module KDIR=DIR      module against any kernel build/headers tree
#   make user                 egpud, egpuctl, libegpu
#   make check                install deps, fetch test kernels, build, run every test
#   make check-dkms-upgrade   the real-system tier with egpuhp-dkms in its package upgrade
#   make check-gpu            CUDA checkpoint/migrate tests (machine with NVIDIA GPUs)
#   make demo                 boot the virtual eGPU dock and show egpuhp's events
#   make lint                 W=1 + sparse against every test kernel, checkpatch, kernel-doc
#   make install DESTDIR=...  install everything to the usual places
#   make dkms-install / dkms-remove
#   make vm-shell [KERNEL=6.12]  interactive virtual dock

VERSION		:= 0.1.0
KVER		?= $(shell uname -r)
KDIR		?= /lib/modules/$(KVER)/build
PREFIX		?= /usr
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc
UDEVDIR		?= /lib/udev
SYSTEMDDIR	?= /lib/systemd/system
# The Python binding (python/egpu): Debian's directory for modules of every python3
PYTHON3DIR	?= $(PREFIX)/lib/python3/dist-packages
DKMS_SRC	:= $(DESTDIR)/usr/src/egpuhp-$(VERSION)
# Extra dkms options (e.g. --dkmstree/--sourcetree for a sandboxed test) and
# an explicit kernel source dir for kernels whose headers are not installed.
DKMS_FLAGS	?=
DKMS_KDIR	?=
DKMS		= dkms $(DKMS_FLAGS)

.PHONY: all module module-clean user clean check check-dkms-upgrade check-gpu fuzz-long fault-full \
	demo bench lint install install-user install-python install-module install-data dkms-src \
	dkms-install dkms-remove vm-shell

all: module user

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# Not kbuild's "clean" with M=$(CURDIR): that deletes every *.ko below the
# repository, the unpacked test kernels in .cache/ included.
module-clean:
	find kmod \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name '.*.d' \) -delete
	rm -f Module.symvers modules.order kmod/modules.order .*.cmd

user:
	$(MAKE) -C user

clean: module-clean
	$(MAKE) -C user clean
	rm -rf build

check:
	tests/run-all

# The real-system tier with egpuhp-dkms in its package upgrade: DKMS
# rebuilds egpuhp.ko inside the TCG guest (two depmod runs over 6.12's
# xz-compressed modules, one over 6.1's, the build), longer than "make
# check" can give it (tests/system/test_system.py, DKMS_UPGRADE).  Two
# vCPUs: DKMS builds with make -j$$(nproc).
check-dkms-upgrade:
	EGPUHP_SYSTEM_DKMS_UPGRADE=1 EGPUHP_SYSTEM_SMP=2 EGPUHP_TEST_TIMEOUT=3600 \
		tests/run-all --kernels 6.12 --no-lint --no-unit --only '^tests/system/'

# GPU tests of the CUDA engine (tests/gpu): needs an NVIDIA GPU, driver 580+
# and nvcc; fails rather than skips when there is none.
check-gpu: user
	tests/gpu/build.sh
	tests/gpu/test_gpu.sh --require-gpu

# The demo does its own set-up like "check": packages, one kernel, builds.
demo:
	tests/deps.sh
	tests/vm/kernels.sh fetch 6.12
	$(MAKE) -C user
	$(MAKE) -C tests/kmod
	$(MAKE) -C tests/eject
	tests/vm/build-modules.sh 6.12
	python3 tests/demo.py --kernel 6.12

# The debug kernel's long runs, not in make check (bench/RESULTS.md): the
# netlink fuzzer's 1,000,000 messages under the churn and reloads (two
# vCPUs, one per fuzzer), and the fault sweep that fails every allocation
# of every operation in turn (make check runs the one-per-site sweep).
fuzz-long:
	tests/vm/kernels.sh fetch 6.12-debug
	EGPUHP_FUZZ_MESSAGES=1000000 EGPUHP_FUZZ_SMP=2 EGPUHP_FUZZ_TIMEOUT=$${EGPUHP_FUZZ_TIMEOUT:-9000} \
		python3 tests/fuzz/test_nlfuzz.py --kernel 6.12-debug

fault-full:
	tests/vm/kernels.sh fetch 6.12-debug
	EGPUHP_FAULT_SWEEP=full python3 tests/fault/test_fault.py --kernel 6.12-debug

# Benchmarks: not tests; each prints JSON.  BENCH=name picks one.
bench:
	tests/deps.sh
	for b in $(if $(BENCH),bench/$(BENCH)*,$(wildcard bench/*.py bench/*.sh)); do \
		echo "== $$b"; \
		case $$b in *.py) python3 $$b ;; *) bash $$b ;; esac || exit 1; \
	done

vm-shell:
	tests/vm/vm-shell $(if $(KERNEL),--kernel $(KERNEL))

lint:
	tests/lint.sh

install: install-user install-python install-data
	$(if $(wildcard kmod/egpuhp.ko),$(MAKE) install-module)

install-module:
	install -D -m 0644 kmod/egpuhp.ko \
		$(DESTDIR)/lib/modules/$(KVER)/updates/egpuhp.ko

install-user: user
	$(MAKE) -C user install DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) \
		SBINDIR=$(SBINDIR) BINDIR=$(BINDIR) LIBDIR=$(LIBDIR) \
		INCLUDEDIR=$(INCLUDEDIR) MANDIR=$(MANDIR) VERSION=$(VERSION)
	install -D -m 0644 include/uapi/linux/egpuhp.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/egpuhp.h

# The ctypes binding over libegpu.so.0 and its PyTorch helper (python/egpu/):
# sources only; Debian's dh_python3 byte-compiles them at install.
install-python:
	for f in python/egpu/*.py; do \
		install -D -m 0644 $$f $(DESTDIR)$(PYTHON3DIR)/egpu/$${f##*/}; \
	done

install-data:
	install -D -m 0644 udev/70-egpuhp.rules $(DESTDIR)$(UDEVDIR)/rules.d/70-egpuhp.rules
	install -D -m 0644 systemd/egpud.service $(DESTDIR)$(SYSTEMDDIR)/egpud.service
	install -D -m 0644 systemd/egpuhp-deauthorize.service \
		$(DESTDIR)$(SYSTEMDDIR)/egpuhp-deauthorize.service
	install -D -m 0644 modprobe.d/egpuhp.conf.example \
		$(DESTDIR)$(PREFIX)/share/doc/egpuhp/examples/modprobe.d-egpuhp.conf
	install -D -m 0644 user/egpud.conf.example \
		$(DESTDIR)$(PREFIX)/share/doc/egpuhp/examples/egpud.conf
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/egpuhp/hooks.d
	install -d -m 0700 $(DESTDIR)/var/lib/egpuhp

# DKMS builds from a copy of the module sources under /usr/src
# ("dkms-src" alone is what the egpuhp-dkms package ships).
dkms-src:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/include/uapi/linux
	install -m 0644 Kbuild $(DKMS_SRC)/
	install -m 0644 kmod/Kbuild kmod/*.c kmod/*.h $(DKMS_SRC)/kmod/
	install -m 0644 include/uapi/linux/egpuhp.h $(DKMS_SRC)/include/uapi/linux/
	sed 's/@VERSION@/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf

dkms-install: dkms-src
	$(DKMS) add -m egpuhp -v $(VERSION)
	$(DKMS) build -m egpuhp -v $(VERSION) -k $(KVER) \
		$(if $(DKMS_KDIR),--kernelsourcedir $(DKMS_KDIR))
	$(if $(DKMS_NO_INSTALL),,$(DKMS) install -m egpuhp -v $(VERSION) -k $(KVER))

dkms-remove:
	-$(DKMS) remove -m egpuhp -v $(VERSION) --all
	rm -rf $(DKMS_SRC)
