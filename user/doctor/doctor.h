/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpuctl doctor: checks of what makes eGPUs fail on Linux, each with what
 * it saw and the fix.  Reads only: files below a root directory ("/"
 * normally, a fixture tree in tests), never the netlink family or egpud's
 * socket, so it works without the module and without egpud.
 *
 * One check per file (check_*.c); doctor.c holds the context every check
 * reads from (routers, the eGPU's PCI functions, the kernel log, egpud's
 * configuration) and the list of findings they add to.
 */
#ifndef EGPU_DOCTOR_H
#define EGPU_DOCTOR_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/egpuhp_nl.h"

struct egpu_config;

enum doctor_verdict {
	DOCTOR_OK,
	DOCTOR_NA,	/* does not apply here (no such device, not this kernel) */
	DOCTOR_WARN,
	DOCTOR_FAIL,
};

const char *doctor_verdict_name(enum doctor_verdict v);

struct doctor_finding {
	const char *check;	/* the check's name: "thunderbolt-security" */
	enum doctor_verdict verdict;
	char subject[32];	/* router or PCI function; "" for the system */
	char seen[512];		/* what was read, for a human */
	char fix[512];		/* the command or config line; "" if none */
};

/* A PCI function of an eGPU (behind an external-facing port), or the target. */
struct doctor_fn {
	char name[EGPUHP_PCI_NAME_LEN];
	char parent[EGPUHP_PCI_NAME_LEN];	/* upstream bridge, "" at a root bus */
	unsigned int vendor, device, class_code;
	char driver[64];			/* "" when none is bound */
	bool removable;				/* sysfs "removable" says so */
};

/* One record of the kernel log (/dev/kmsg). */
struct doctor_log_line {
	unsigned long long usec;		/* since boot */
	char *text;
};

struct doctor {
	char root[1024];			/* "" for "/" */
	char proc_root[1040], sys_root[1040], dev_root[1040];	/* for gpuwork */
	const char *target;			/* DEV or ROUTER, NULL for all */
	bool target_router;
	struct egpuhp_router *routers;
	size_t n_routers;
	struct doctor_fn *fns;
	size_t n_fns;
	struct doctor_log_line *log;
	size_t n_log;
	int log_err;				/* why the log could not be read, -errno */
	char cmdline[4096];			/* proc/cmdline */
	struct egpu_config *config;		/* egpud.conf, NULL if unreadable */
	char config_err[256];
	struct doctor_finding *findings;
	size_t n_findings;
};

struct doctor_check {
	const char *name;
	const char *about;			/* one line: what it looks at */
	void (*run)(struct doctor *d);
};

/* Every check, in the order they run (doctor.c). */
extern const struct doctor_check *const doctor_checks[];
extern const size_t doctor_n_checks;

/*
 * Read the system below root (NULL or "" for "/"): routers, the eGPU's PCI
 * functions (only those of target, a PCI function or router, when given),
 * the kernel log, egpud's configuration.  Points the sysfs helpers at
 * root/sys.  Returns 0, or -ENOENT with err filled when target names
 * neither a PCI function nor a router.
 */
int doctor_init(struct doctor *d, const char *root, const char *target, char *err, size_t len);
void doctor_free(struct doctor *d);
void doctor_run(struct doctor *d);
/* The worst verdict of all findings (DOCTOR_OK when all are ok or n/a). */
enum doctor_verdict doctor_worst(const struct doctor *d);

/* Add a finding; seen and fix are filled by the two calls below. */
struct doctor_finding *doctor_add(struct doctor *d, const char *check,
				  enum doctor_verdict v, const char *subject);
void doctor_seen(struct doctor_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void doctor_fix(struct doctor_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* root + "/" + rel (rel without a leading '/'); 0 or -ENAMETOOLONG. */
int doctor_path(const struct doctor *d, char *buf, size_t len, const char *rel);
/* Read root/rel, trailing white space stripped; bytes read or -errno. */
int doctor_read(const struct doctor *d, const char *rel, char *buf, size_t len);
/* Does root/rel exist? */
bool doctor_exists(const struct doctor *d, const char *rel);
/* opendir(root/rel); NULL (errno set, ENAMETOOLONG for a path too long) if it fails. */
DIR *doctor_opendir(const struct doctor *d, const char *rel);

/* A PCI function's attribute: sys/bus/pci/devices/<fn>/<attr>. */
int doctor_pci_attr(const struct doctor *d, const char *fn, const char *attr,
		    char *buf, size_t len);
/* Does sys/bus/pci/devices/<fn>/<attr> exist? */
bool doctor_exists_pci_attr(const struct doctor *d, const char *fn, const char *attr);
/* Is the module "name" loaded (sys/module/<name>)? */
bool doctor_module_loaded(const struct doctor *d, const char *name);
/*
 * The running kernel's file of module name, from depmod's modules.dep:
 * "lib/modules/RELEASE/updates/dkms/egpuhp.ko.xz" (relative to the root)
 * into buf.  0, or -ENOENT when depmod knows no such module.
 */
int doctor_module_file(const struct doctor *d, const char *name, char *buf, size_t len);
/* Is a process named comm running (proc/PID/comm)?  Its pid, or 0. */
int doctor_find_process(const struct doctor *d, const char *comm);

/*
 * The kernel command line's word that starts with prefix ("iommu=",
 * "pciehp.pciehp_poll_mode=1") into buf; false if it has none.
 */
bool doctor_cmdline(const struct doctor *d, const char *prefix, char *buf, size_t len);

/*
 * When there is no eGPU function to check, add check's n/a finding saying
 * so and return true.
 */
bool doctor_no_functions(struct doctor *d, const char *check);

/* Is fn a GPU (display class 0x03, or processing accelerator 0x12)? */
bool doctor_fn_is_gpu(const struct doctor_fn *fn);

/*
 * The first kernel log record from index *from on that contains a and (if
 * not NULL) b; NULL if none.  *from is set past it, so calls can loop.
 */
const struct doctor_log_line *doctor_log_find(const struct doctor *d, size_t *from,
					      const char *a, const char *b);

/* The checks (check_*.c). */
#define DOCTOR_CHECKS(X)	\
	X(thunderbolt)		\
	X(iommu)		\
	X(usb_cable)		\
	X(router_auth)		\
	X(auth_owner)		\
	X(module)		\
	X(egpud)		\
	X(secure_boot)		\
	X(link)			\
	X(bar)			\
	X(iommu_groups)		\
	X(reset)		\
	X(vfio)			\
	X(nvidia_external)	\
	X(d3cold)		\
	X(nic_names)		\
	X(container)		\
	X(rt_pciehp)

#define DOCTOR_DECLARE_CHECK(x) extern const struct doctor_check doctor_check_##x;
DOCTOR_CHECKS(DOCTOR_DECLARE_CHECK)
#undef DOCTOR_DECLARE_CHECK

#endif /* EGPU_DOCTOR_H */
