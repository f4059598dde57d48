// SPDX-License-Identifier: GPL-2.0
/*
 * secure-boot: with Secure Boot on (or module.sig_enforce=1) the kernel
 * loads only modules signed by a key it trusts; a DKMS-built egpuhp.ko is
 * signed with DKMS's own key (/var/lib/dkms/mok.pub), which the kernel
 * trusts only once it is enrolled as a MOK (shim's MokListRT).
 *
 * SecureBoot-<EFI global GUID> is the UEFI variable: 4 bytes of attributes,
 * then the value (1 = on).  MokListRT is shim's list of EFI signature lists;
 * an enrolled DER certificate appears in it byte for byte.  A module file
 * with a signature ends with "~Module signature appended~\n"
 * (scripts/sign-file), and libkmod names its signer; a module loaded
 * without one taints the kernel "E" (sys/module/NAME/taint).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libkmod.h>

#include "common/file_read.h"
#include "doctor/doctor.h"

#define SECURE_BOOT_VAR	"sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0e5c3d1d58f"
#define MOK_LIST_VARS	"sys/firmware/efi/mok-variables/MokListRT"
#define MOK_LIST_EFIVAR	"sys/firmware/efi/efivars/MokListRT-605dab50-e046-4300-abb6-3dd810dd8b23"
#define DKMS_MOK	"var/lib/dkms/mok.pub"
#define SIG_MAGIC	"~Module signature appended~\n"
#define MOK_FIX		"mokutil --import /var/lib/dkms/mok.pub (choose a one-time password), " \
			"reboot, and in the blue MokManager screen choose Enroll MOK"

/* A whole (small) file below the root, malloc'ed; NULL if unreadable. */
static unsigned char *slurp(const struct doctor *d, const char *rel, size_t max, size_t *len)
{
	char path[PATH_MAX];
	unsigned char *buf;
	ssize_t n;

	if (doctor_path(d, path, sizeof(path), rel))
		return NULL;
	buf = malloc(max + 1);
	if (!buf)
		return NULL;
	n = egpu_read_small_file(path, (char *)buf, max + 1);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/* 1 on, 0 off, -1 no EFI (legacy BIOS boot) */
static int secure_boot_state(const struct doctor *d)
{
	unsigned char *v;
	size_t len = 0;
	int on;

	if (!doctor_exists(d, "sys/firmware/efi"))
		return -1;
	v = slurp(d, SECURE_BOOT_VAR, 16, &len);
	on = v && len >= 5 && v[4] == 1;
	free(v);
	return on;
}

/* Is the DKMS key enrolled?  1 yes, 0 no, -1 no key or no list to tell. */
static int dkms_key_enrolled(const struct doctor *d)
{
	unsigned char *key, *list;
	size_t klen = 0, llen = 0;
	int ret = -1;

	key = slurp(d, DKMS_MOK, 16384, &klen);
	if (!key)
		return -1;
	list = slurp(d, MOK_LIST_VARS, 1 << 20, &llen);
	if (!list)
		list = slurp(d, MOK_LIST_EFIVAR, 1 << 20, &llen);
	if (list)
		ret = memmem(list, llen, key, klen) != NULL;
	free(key);
	free(list);
	return ret;
}

/*
 * libkmod's reading of the module's signature (it decompresses .ko.xz and
 * .ko.zst): 1 signed, with the signer's name in signer ("" when libkmod
 * cannot name it), 0 not signed, -1 libkmod could not read the file.
 */
static int kmod_signature(const char *path, char *signer, size_t len)
{
	struct kmod_list *info = NULL, *it;
	const char *no_config = NULL;
	struct kmod_module *mod;
	struct kmod_ctx *ctx;
	int ret = -1;

	signer[0] = '\0';
	ctx = kmod_new(NULL, &no_config);	/* no modprobe.d: only the file is read */
	if (!ctx)
		return -1;
	if (kmod_module_new_from_path(ctx, path, &mod) == 0) {
		if (kmod_module_get_info(mod, &info) >= 0) {
			ret = 0;
			kmod_list_foreach(it, info) {
				const char *key = kmod_module_info_get_key(it);
				const char *val = kmod_module_info_get_value(it);

				if (!strcmp(key, "sig_id") || !strcmp(key, "signature"))
					ret = 1;
				if (!strcmp(key, "signer") && val) {
					snprintf(signer, len, "%s", val);
					ret = 1;
				}
			}
			kmod_module_info_free_list(info);
		}
		kmod_module_unref(mod);
	}
	kmod_unref(ctx);
	return ret;
}

/*
 * 1 the file carries a signature (signer named when known), 0 it does not,
 * -1 cannot tell
 */
static int module_file_signed(const struct doctor *d, const char *rel, char *signer,
			      size_t len)
{
	char path[PATH_MAX], tail[sizeof(SIG_MAGIC)];
	struct stat st;
	int fd, ret;
	size_t ml = sizeof(SIG_MAGIC) - 1;

	if (doctor_path(d, path, sizeof(path), rel))
		return -1;
	ret = kmod_signature(path, signer, len);
	if (ret >= 0)
		return ret;
	if (!strstr(rel, ".ko") || strcmp(strstr(rel, ".ko"), ".ko"))
		return -1;	/* .ko.xz/.ko.zst: the signature is inside */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)ml &&
	    pread(fd, tail, ml, st.st_size - (off_t)ml) == (ssize_t)ml)
		ret = !memcmp(tail, SIG_MAGIC, ml);
	close(fd);
	return ret;
}

static void run(struct doctor *d)
{
	int sb = secure_boot_state(d), enrolled, sig = -1;
	char enforce[8] = "", taint[16] = "", file[512] = "", signer[128] = "", by[160] = "";
	bool enforcing, loaded = doctor_module_loaded(d, "egpuhp");
	const struct doctor_log_line *rejected;
	struct doctor_finding *f;
	size_t from = 0;

	doctor_read(d, "sys/module/module/parameters/sig_enforce", enforce, sizeof(enforce));
	enforcing = sb == 1 || !strcmp(enforce, "Y");
	if (loaded) {
		doctor_read(d, "sys/module/egpuhp/taint", taint, sizeof(taint));
		/* unsigned but loaded: only a problem once signatures are enforced */
		f = doctor_add(d, "secure-boot", !strchr(taint, 'E') ? DOCTOR_OK :
			       enforcing ? DOCTOR_WARN : DOCTOR_NA, NULL);
		doctor_seen(f, "Secure Boot %s; egpuhp is loaded%s", sb == 1 ? "on" :
			    sb == 0 ? "off" : "n/a (no EFI)", strchr(taint, 'E') ?
			    " without a valid signature (taint E): it would be refused "
			    "with Secure Boot on" : enforcing ? ", so its signature was accepted" : "");
		if (strchr(taint, 'E'))
			doctor_fix(f, "have DKMS sign it and enroll the key: " MOK_FIX);
		return;
	}
	if (!enforcing) {
		f = doctor_add(d, "secure-boot", DOCTOR_NA, NULL);
		doctor_seen(f, "Secure Boot %s and module signatures are not enforced",
			    sb == 0 ? "is off" : "n/a (no EFI)");
		return;
	}
	if (doctor_module_file(d, "egpuhp", file, sizeof(file)) == 0)
		sig = module_file_signed(d, file, signer, sizeof(signer));
	if (signer[0])
		snprintf(by, sizeof(by), " (signed by \"%s\")", signer);
	/* kernel/module/signing.c: "Loading of unsigned module is rejected" */
	rejected = doctor_log_find(d, &from, "Loading of ", " is rejected");
	enrolled = dkms_key_enrolled(d);
	if (sig == 0) {
		f = doctor_add(d, "secure-boot", DOCTOR_FAIL, NULL);
		doctor_seen(f, "Secure Boot is on and /%s has no signature: the kernel refuses it",
			    file);
		doctor_fix(f, "dkms autoinstall --force (DKMS signs with /var/lib/dkms/mok.key), "
			   "then %s", MOK_FIX);
	} else if (enrolled == 0) {
		f = doctor_add(d, "secure-boot", DOCTOR_FAIL, NULL);
		doctor_seen(f, "Secure Boot is on and DKMS's signing key (/var/lib/dkms/mok.pub) "
			    "is not an enrolled MOK%s%s%s", by, rejected ? "; the kernel logged: " : "",
			    rejected ? rejected->text : "");
		doctor_fix(f, MOK_FIX);
	} else if (rejected) {
		f = doctor_add(d, "secure-boot", DOCTOR_FAIL, NULL);
		doctor_seen(f, "Secure Boot is on; egpuhp%s is not loaded and the kernel logged: %s",
			    by, rejected->text);
		doctor_fix(f, "sign egpuhp.ko with an enrolled key; for DKMS: %s", MOK_FIX);
	} else {
		f = doctor_add(d, "secure-boot", DOCTOR_OK, NULL);
		doctor_seen(f, "Secure Boot is on; %s%s; no refused module in the kernel log",
			    enrolled == 1 ? "DKMS's signing key is enrolled" :
			    sig == 1 ? "egpuhp.ko is signed" :
			    "the module's signature was not checked here", by);
	}
}

const struct doctor_check doctor_check_secure_boot = {
	.name = "secure-boot",
	.about = "Secure Boot state, egpuhp.ko's signature, DKMS's MOK enrolled",
	.run = run,
};
