// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-nlfuzz: structure-aware fuzzer of the "egpuhp" generic netlink
 * family, run inside the dock guest (tests/fuzz/test_nlfuzz.py).
 *
 * It knows the commands, nests and attribute types of
 * include/uapi/linux/egpuhp.h and builds requests from them, then mutates
 * what the kernel must check: attribute lengths and types, nesting,
 * NLA_F_NESTED, header lengths and flags, the genl version, commands out of
 * range.  Dumps are started and abandoned (socket closed mid-dump).  The
 * family is resolved again whenever it disappears (the test unloads and
 * reloads egpuhp.ko under the fuzzer).
 *
 *   egpuhp-nlfuzz [--user] [--messages N] [--seed S] [--kcov TEXT_SIZE]
 *                 [--cover FILE] [--stop FILE] [--batch N] [--ack PCT]
 *                 [--only CMD] [--clean]
 *   egpuhp-nlfuzz [--fail-nth N] [--kcov TEXT_SIZE --cover FILE]
 *                 --one CMD [--dev NAME] [--id N] [--dump] |
 *                 --insmod PATH PARAMS | --rmmod NAME | --write PATH VALUE
 *
 * --one sends a single well-formed request (CMD as in the uapi enum without
 * its prefix: GET_DEV, ADD_QUIRK, ...; --id is the quirk id of DEL_QUIRK, the
 * method of RESET, the watchdog period of SET_CONFIG, the actions of
 * ADD_QUIRK (default: no_d3cold, d3hot_delay 20, egpuhp_reset pm); --dev a function, or a
 * router for GET_ROUTER) and prints the answer:
 * tests/fault/test_fault.py drives every command through it.  --insmod,
 * --rmmod and --write load a module, unload one or write a file; with
 * --kcov and --cover before them (or before --one) the egpuhp code each ran
 * in this task is appended to the cover file (the fuzz test's churn, the
 * fault test's census of the call sites an action reaches).  --fail-nth (put before the
 * action) fails the N-th allocation that passes the fault-injection filters
 * in that one action and prints how many were left (0: it was injected).
 *
 * --user: drop to uid/gid 65534 before sending; every mutating command
 * (SET_CONFIG, ADD/DEL_QUIRK, RESET, EJECT) must then be refused: a
 * well-formed one with EPERM, a malformed one with some error, never 0.
 * --keep-root (with --user): the same accounting without dropping root, so
 * that the test can show its check sees mutating commands getting through.
 * --kcov: collect the kernel PCs of every request (KCOV, per thread) that
 * fall into egpuhp.ko's .text (TEXT_SIZE bytes from
 * /sys/module/egpuhp/sections/.text, read again after each reload); the
 * offsets go to --cover.  New PCs found by a command raise its weight, so
 * generation moves to the commands that still find new code.
 * Root never aims EJECT at a present device (it would take the dock's
 * devices away under the host); it resets a present function (off bus 0)
 * with an in-place method at most once a batch, other RESETs name absent
 * functions.
 *
 * Speed (the debug kernel under TCG spends about a millisecond in the
 * kernel for a request that genl refuses outright): --batch requests go in
 * one sendmsg() (netlink_rcv_skb() walks every nlmsghdr of the skb), only
 * --ack percent of the requests ask for an ack of a success (failures are
 * acked anyway; uid 65534's mutating requests always ask), answers are read
 * RECV_VEC at a time with recvmmsg().  --only CMD and --clean (no noise
 * attributes) are for measuring one command's cost (bench/nlfuzz_rate.py).
 * Output: one JSON object with the counts on stdout at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/egpuhp.h>

#define KCOV_INIT_TRACE	_IOR('c', 1, unsigned long)
#define KCOV_ENABLE	_IO('c', 100)
#define KCOV_TRACE_PC	0
#define KCOV_WORDS	(1UL << 19)	/* one batch */
#define KCOV_WORDS_ACTION (1UL << 21)	/* a module load: all of its init */

#define BATCH_MAX	256	/* requests per sendmsg() at most */
#define MSG_MAX		1024
#define NCMD		(EGPUHP_CMD_MAX + 2)	/* UNSPEC..MAX, then "beyond MAX" */
#define RING		4096

/* ---- attribute schema (from the uapi header) ---- */

enum kind { K_U8, K_U16, K_U32, K_U64, K_STR, K_FLAG, K_NEST };

struct attr_def {
	int type;
	enum kind kind;
	int nest;	/* index into nests[] for K_NEST */
	int strmax;	/* buffer size for strings, NUL included */
};

struct nest_def {
	const char *name;
	int max;
	const struct attr_def *attrs;
	int n;
};

enum { N_TOP, N_DEV, N_LINK, N_ROUTER, N_STATS, N_CONFIG, N_QUIRK, N_RESET, N_COUNT };

static const struct attr_def top_attrs[] = {
	{ EGPUHP_A_PAD, K_U64, 0, 0 },
	{ EGPUHP_A_VERSION, K_U32, 0, 0 },
	{ EGPUHP_A_SEQ, K_U64, 0, 0 },
	{ EGPUHP_A_TIMESTAMP_NS, K_U64, 0, 0 },
	{ EGPUHP_A_EVENT, K_U32, 0, 0 },
	{ EGPUHP_A_FLAGS, K_U32, 0, 0 },
	{ EGPUHP_A_DEV, K_NEST, N_DEV, 0 },
	{ EGPUHP_A_ROUTER, K_NEST, N_ROUTER, 0 },
	{ EGPUHP_A_STATS, K_NEST, N_STATS, 0 },
	{ EGPUHP_A_CONFIG, K_NEST, N_CONFIG, 0 },
	{ EGPUHP_A_QUIRK, K_NEST, N_QUIRK, 0 },
	{ EGPUHP_A_RESET, K_NEST, N_RESET, 0 },
	{ EGPUHP_A_MODULE_VERSION, K_STR, 0, 32 },
	{ EGPUHP_A_RESET_HOOK, K_U32, 0, 0 },
	{ EGPUHP_A_RESET_HOOK_MSG, K_STR, 0, 64 },
};

static const struct attr_def dev_attrs[] = {
	{ EGPUHP_DEV_A_NAME, K_STR, 0, EGPUHP_PCI_NAME_LEN },
	{ EGPUHP_DEV_A_VENDOR, K_U16, 0, 0 },
	{ EGPUHP_DEV_A_DEVICE, K_U16, 0, 0 },
	{ EGPUHP_DEV_A_SUBSYS_VENDOR, K_U16, 0, 0 },
	{ EGPUHP_DEV_A_SUBSYS_DEVICE, K_U16, 0, 0 },
	{ EGPUHP_DEV_A_CLASS, K_U32, 0, 0 },
	{ EGPUHP_DEV_A_REVISION, K_U8, 0, 0 },
	{ EGPUHP_DEV_A_DRIVER, K_STR, 0, EGPUHP_DRIVER_NAME_LEN },
	{ EGPUHP_DEV_A_PARENT, K_STR, 0, EGPUHP_PCI_NAME_LEN },
	{ EGPUHP_DEV_A_PORT, K_STR, 0, EGPUHP_PCI_NAME_LEN },
	{ EGPUHP_DEV_A_ROUTER_UID, K_STR, 0, EGPUHP_UNIQUE_ID_LEN },
	{ EGPUHP_DEV_A_TRACK, K_U32, 0, 0 },
	{ EGPUHP_DEV_A_IS_GPU, K_FLAG, 0, 0 },
	{ EGPUHP_DEV_A_GROUP, K_STR, 0, EGPUHP_PCI_NAME_LEN },
	{ EGPUHP_DEV_A_PRESENT, K_U8, 0, 0 },
	{ EGPUHP_DEV_A_LINK, K_NEST, N_LINK, 0 },
	{ EGPUHP_DEV_A_QUIRKS, K_U32, 0, 0 },
};

static const struct attr_def link_attrs[] = {
	{ EGPUHP_LINK_A_CUR_SPEED, K_U32, 0, 0 },
	{ EGPUHP_LINK_A_CUR_WIDTH, K_U32, 0, 0 },
	{ EGPUHP_LINK_A_MAX_SPEED, K_U32, 0, 0 },
	{ EGPUHP_LINK_A_MAX_WIDTH, K_U32, 0, 0 },
};

static const struct attr_def router_attrs[] = {
	{ EGPUHP_ROUTER_A_NAME, K_STR, 0, EGPUHP_ROUTER_NAME_LEN },
	{ EGPUHP_ROUTER_A_UNIQUE_ID, K_STR, 0, EGPUHP_UNIQUE_ID_LEN },
	{ EGPUHP_ROUTER_A_VENDOR, K_U32, 0, 0 },
	{ EGPUHP_ROUTER_A_DEVICE, K_U32, 0, 0 },
	{ EGPUHP_ROUTER_A_VENDOR_NAME, K_STR, 0, EGPUHP_TB_STRING_LEN },
	{ EGPUHP_ROUTER_A_DEVICE_NAME, K_STR, 0, EGPUHP_TB_STRING_LEN },
	{ EGPUHP_ROUTER_A_GENERATION, K_U32, 0, 0 },
	{ EGPUHP_ROUTER_A_AUTHORIZED, K_U32, 0, 0 },
	{ EGPUHP_ROUTER_A_BOOT, K_U8, 0, 0 },
	{ EGPUHP_ROUTER_A_DOMAIN, K_STR, 0, 16 },
	{ EGPUHP_ROUTER_A_DEPTH, K_U32, 0, 0 },
};

static const struct attr_def stats_attrs[] = {
	{ EGPUHP_STATS_A_PAD, K_U64, 0, 0 },
	{ EGPUHP_STATS_A_EVENTS, K_U64, 0, 0 },
	{ EGPUHP_STATS_A_DEVICES, K_U32, 0, 0 },
};

static const struct attr_def config_attrs[] = {
	{ EGPUHP_CONFIG_A_TRACK_HOTPLUG, K_U8, 0, 0 },
	{ EGPUHP_CONFIG_A_WATCHDOG_MS, K_U32, 0, 0 },
};

static const struct attr_def quirk_attrs[] = {
	{ EGPUHP_QUIRK_A_ID, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_VENDOR, K_U16, 0, 0 },
	{ EGPUHP_QUIRK_A_DEVICE, K_U16, 0, 0 },
	{ EGPUHP_QUIRK_A_SUBSYS_VENDOR, K_U16, 0, 0 },
	{ EGPUHP_QUIRK_A_SUBSYS_DEVICE, K_U16, 0, 0 },
	{ EGPUHP_QUIRK_A_CLASS, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_CLASS_MASK, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_ACTIONS, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_D3HOT_DELAY_MS, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_D3COLD_DELAY_MS, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_RESET_ORDER, K_STR, 0, 64 },
	{ EGPUHP_QUIRK_A_SOURCE, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_NOTE, K_STR, 0, EGPUHP_QUIRK_NOTE_LEN },
	{ EGPUHP_QUIRK_A_RESET_METHOD, K_U32, 0, 0 },
	{ EGPUHP_QUIRK_A_APPLIED_DEV, K_STR, 0, EGPUHP_PCI_NAME_LEN },
	{ EGPUHP_QUIRK_A_RESET_STEP, K_U32, 0, 0 },
};

static const struct attr_def reset_attrs[] = {
	{ EGPUHP_RESET_A_PAD, K_U64, 0, 0 },
	{ EGPUHP_RESET_A_METHOD, K_U32, 0, 0 },
	{ EGPUHP_RESET_A_DURATION_NS, K_U64, 0, 0 },
	{ EGPUHP_RESET_A_RESULT, K_U32, 0, 0 },
	{ EGPUHP_RESET_A_KERNEL_METHODS, K_STR, 0, 64 },
	{ EGPUHP_RESET_A_STEP, K_U32, 0, 0 },
};

#define NEST(name, max, a) { name, max, a, sizeof(a) / sizeof(a[0]) }
static const struct nest_def nests[N_COUNT] = {
	[N_TOP] = NEST("top", EGPUHP_A_MAX, top_attrs),
	[N_DEV] = NEST("dev", EGPUHP_DEV_A_MAX, dev_attrs),
	[N_LINK] = NEST("link", EGPUHP_LINK_A_MAX, link_attrs),
	[N_ROUTER] = NEST("router", EGPUHP_ROUTER_A_MAX, router_attrs),
	[N_STATS] = NEST("stats", EGPUHP_STATS_A_MAX, stats_attrs),
	[N_CONFIG] = NEST("config", EGPUHP_CONFIG_A_MAX, config_attrs),
	[N_QUIRK] = NEST("quirk", EGPUHP_QUIRK_A_MAX, quirk_attrs),
	[N_RESET] = NEST("reset", EGPUHP_RESET_A_MAX, reset_attrs),
};

static const char *const cmd_names[NCMD] = {
	[EGPUHP_CMD_UNSPEC] = "UNSPEC",
	[EGPUHP_CMD_EVENT] = "EVENT",
	[EGPUHP_CMD_GET_INFO] = "GET_INFO",
	[EGPUHP_CMD_GET_DEV] = "GET_DEV",
	[EGPUHP_CMD_GET_ROUTER] = "GET_ROUTER",
	[EGPUHP_CMD_GET_STATS] = "GET_STATS",
	[EGPUHP_CMD_SET_CONFIG] = "SET_CONFIG",
	[EGPUHP_CMD_GET_QUIRK] = "GET_QUIRK",
	[EGPUHP_CMD_ADD_QUIRK] = "ADD_QUIRK",
	[EGPUHP_CMD_DEL_QUIRK] = "DEL_QUIRK",
	[EGPUHP_CMD_RESET] = "RESET",
	[EGPUHP_CMD_EJECT] = "EJECT",
	[NCMD - 1] = "BEYOND_MAX",
};

static bool cmd_mutates(int cmd)
{
	return cmd == EGPUHP_CMD_SET_CONFIG || cmd == EGPUHP_CMD_ADD_QUIRK ||
	       cmd == EGPUHP_CMD_DEL_QUIRK || cmd == EGPUHP_CMD_RESET ||
	       cmd == EGPUHP_CMD_EJECT;
}

static bool cmd_dumps(int cmd)
{
	return cmd == EGPUHP_CMD_GET_DEV || cmd == EGPUHP_CMD_GET_ROUTER ||
	       cmd == EGPUHP_CMD_GET_QUIRK;
}

/* ---- state ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static bool opt_user, opt_keep_root;
static unsigned long opt_messages = 100000;
static int opt_batch = 64;
static unsigned int opt_ack_pct = 10;
static int opt_only = -1;
static bool opt_clean;
static unsigned long opt_text_size;
static const char *opt_cover, *opt_stop;

static int family = -1;
static unsigned int seq = 1;
static char devnames[64][EGPUHP_PCI_NAME_LEN];
static int ndevnames;
/* functions off bus 0: the dock's hot-plugged ones, which egpuhp tracks */
static char livenames[16][EGPUHP_PCI_NAME_LEN];
static int nlivenames, live_resets_left;
static uint32_t quirk_ids[256];
static int nquirk_ids;

static struct {
	int cmd;
	bool wellformed;
	bool request;	/* NLM_F_REQUEST set: the kernel acts on it */
} pending[RING];

static struct {
	unsigned long sent, wellformed, ok, eperm, einval, enoent, eopnotsupp,
		ebusy, other, replies, new_pcs, batches;
	double weight;
} st[NCMD];

static unsigned long total_sent, resolves, absent_waits, abandoned_dumps,
	unpriv_mutating_ok, unpriv_wellformed_not_eperm, not_requests, enobufs, dump_parts,
	dump_intr, trunc_replies;

static unsigned long *kcov_area;
static bool kcov_full;		/* the buffer ran over: coverage is partial */
static uint64_t text_base;
static uint8_t *cover_bits;
static unsigned long cover_count;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned int rn(unsigned int n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return rn(100) < pct;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "egpuhp-nlfuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ---- message building ---- */

struct msg {
	uint8_t buf[MSG_MAX];
	int len;
	bool malformed;
};

static struct nlattr *put(struct msg *m, int type, const void *data, int len)
{
	struct nlattr *a;
	int total = NLA_ALIGN(NLA_HDRLEN + len);

	if (m->len + total > MSG_MAX)
		return NULL;
	a = (struct nlattr *)(m->buf + m->len);
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	memset((uint8_t *)a + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
	m->len += total;
	return a;
}

static void put_u32(struct msg *m, int type, uint32_t v)
{
	put(m, type, &v, 4);
}

static void put_str(struct msg *m, int type, const char *s)
{
	put(m, type, s, strlen(s) + 1);
}

static int nest_start(struct msg *m, int type)
{
	int off = m->len;

	if (!put(m, type | NLA_F_NESTED, NULL, 0))
		return -1;
	return off;
}

static void nest_end(struct msg *m, int off)
{
	struct nlattr *a;

	if (off < 0)
		return;
	a = (struct nlattr *)(m->buf + off);
	a->nla_len = m->len - off;
}

static uint64_t interesting(void)
{
	static const uint64_t vals[] = {
		0, 1, 2, 3, 7, 8, 16, 100, 255, 256, 0x7fff, 0x8000, 0xffff,
		0x10000, 60000, 60001, 0x7fffffff, 0x80000000, 0xfffffffe,
		0xffffffff, 0x100000000ULL, ~0ULL,
	};

	if (chance(70))
		return vals[rn(sizeof(vals) / sizeof(vals[0]))];
	return rnd();
}

static const char *pick_devname(bool present_ok)
{
	static char buf[EGPUHP_PCI_NAME_LEN];

	if (present_ok && ndevnames && chance(80))
		return devnames[rn(ndevnames)];
	/* well-formed names of functions that do not exist */
	snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%x", 0xf000 + rn(0xfff), rn(256),
		 rn(32), rn(8));
	return buf;
}

static void random_string(char *s, int max)
{
	static const char *const words[] = {
		"bus", "flr", "pm", "bus flr", "device_specific", "link_retrain",
		"slot_power", "0-1", "0-0", "domain0", "", "%s%s%n", "../../x",
	};
	int n, i;

	if (chance(40)) {
		snprintf(s, max, "%s", words[rn(sizeof(words) / sizeof(words[0]))]);
		return;
	}
	n = rn(max);
	for (i = 0; i < n; i++)
		s[i] = chance(90) ? (char)(' ' + rn(95)) : (char)rn(256);
	s[n] = 0;
}

/* A value of the attribute's declared type, maybe of the wrong size. */
static void put_value(struct msg *m, const struct attr_def *d, int type, int depth);

static void put_random_nest(struct msg *m, int nest, int type, int depth)
{
	const struct nest_def *n = &nests[nest];
	int off, i, count = rn(4);

	off = nest_start(m, chance(95) ? type : (type & ~NLA_F_NESTED));
	if (off >= 0 && chance(10))
		((struct nlattr *)(m->buf + off))->nla_type &= ~NLA_F_NESTED;
	for (i = 0; i < count; i++) {
		const struct attr_def *d = &n->attrs[rn(n->n)];

		put_value(m, d, d->type, depth + 1);
	}
	nest_end(m, off);
}

static void put_value(struct msg *m, const struct attr_def *d, int type, int depth)
{
	uint8_t raw[96];
	char s[160];
	uint64_t v = interesting();
	int len;

	if (depth > 6)
		return;
	if (chance(8)) {		/* wrong type id, maybe with flags */
		type = chance(50) ? (int)rn(nests[N_TOP].max + 4) : (int)(rnd() & 0x7fff);
		if (chance(20))
			type |= NLA_F_NET_BYTEORDER;
		m->malformed = true;
	}
	if (chance(6)) {		/* wrong length */
		len = rn(sizeof(raw));
		memcpy(raw, &v, sizeof(v));
		memset(raw + 8, rn(256), sizeof(raw) - 8);
		put(m, type, raw, len);
		m->malformed = true;
		return;
	}
	switch (d->kind) {
	case K_U8:
		put(m, type, &v, 1);
		break;
	case K_U16:
		put(m, type, &v, 2);
		break;
	case K_U32:
		put(m, type, &v, 4);
		break;
	case K_U64:
		put(m, type, &v, 8);
		break;
	case K_FLAG:
		put(m, type, NULL, 0);
		break;
	case K_STR:
		if (chance(10)) {	/* longer than the buffer */
			memset(s, 'A' + rn(26), sizeof(s));
			len = d->strmax + rn(sizeof(s) - d->strmax);
			put(m, type, s, len);
			m->malformed = true;
		} else if (chance(8)) {	/* no NUL */
			random_string(s, d->strmax);
			put(m, type, s, strlen(s));
			m->malformed = true;
		} else {
			random_string(s, d->strmax);
			put_str(m, type, s);
		}
		break;
	case K_NEST:
		put_random_nest(m, d->nest, type | NLA_F_NESTED, depth);
		break;
	}
}

/* Fills in the request for CMD: first what the command expects, then noise. */
static void build_request(struct msg *m, int cmd, uint16_t *flags)
{
	struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *g;
	int off, off2, i;
	char s[128];

	memset(m, 0, sizeof(*m));
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	g = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
	g->cmd = cmd;
	g->version = chance(95) ? EGPUHP_GENL_VERSION : rn(256);
	if (chance(70))
		put_u32(m, EGPUHP_A_VERSION, EGPUHP_GENL_VERSION);

	/*
	 * The kernel acks every request that fails anyway; an ack of a success
	 * is one more skb to allocate and read, so only some ask for it.
	 */
	*flags = NLM_F_REQUEST | (chance(opt_ack_pct) ? NLM_F_ACK : 0);
	if (cmd_dumps(cmd) && chance(50))
		*flags |= NLM_F_DUMP;

	switch (cmd) {
	case EGPUHP_CMD_GET_DEV:
	case EGPUHP_CMD_EJECT:
		if (chance(85)) {
			off = nest_start(m, EGPUHP_A_DEV);
			put_str(m, EGPUHP_DEV_A_NAME,
				pick_devname(cmd == EGPUHP_CMD_GET_DEV || opt_user));
			nest_end(m, off);
		}
		break;
	case EGPUHP_CMD_GET_ROUTER:
		if (chance(85)) {
			off = nest_start(m, EGPUHP_A_ROUTER);
			snprintf(s, sizeof(s), "%u-%u", rn(3), rn(4));
			put_str(m, EGPUHP_ROUTER_A_NAME, s);
			nest_end(m, off);
		}
		break;
	case EGPUHP_CMD_SET_CONFIG:
		off = nest_start(m, EGPUHP_A_CONFIG);
		if (chance(60)) {
			uint8_t on = chance(90) ? rn(2) : rn(256);

			put(m, EGPUHP_CONFIG_A_TRACK_HOTPLUG, &on, 1);
		}
		if (chance(60))
			/* never a period short enough to busy the guest */
			put_u32(m, EGPUHP_CONFIG_A_WATCHDOG_MS,
				chance(20) ? 0 : chance(50) ? 200 + rn(5000) :
				(uint32_t)interesting() | 200);
		nest_end(m, off);
		break;
	case EGPUHP_CMD_ADD_QUIRK:
		off = nest_start(m, EGPUHP_A_QUIRK);
		put(m, EGPUHP_QUIRK_A_VENDOR, &(uint16_t){ chance(50) ? 0x1234 : interesting() }, 2);
		put(m, EGPUHP_QUIRK_A_DEVICE, &(uint16_t){ chance(50) ? 0x11e8 : interesting() }, 2);
		if (chance(30))
			put_u32(m, EGPUHP_QUIRK_A_CLASS, interesting());
		if (chance(30))
			put_u32(m, EGPUHP_QUIRK_A_CLASS_MASK, interesting());
		put_u32(m, EGPUHP_QUIRK_A_ACTIONS,
			chance(70) ? (uint32_t)(rnd() & EGPUHP_QUIRK_ALL) : (uint32_t)interesting());
		if (chance(40))
			put_u32(m, EGPUHP_QUIRK_A_D3HOT_DELAY_MS, rn(2000));
		if (chance(40))
			put_u32(m, EGPUHP_QUIRK_A_D3COLD_DELAY_MS, rn(2000));
		if (chance(30)) {
			random_string(s, 64);
			put_str(m, EGPUHP_QUIRK_A_RESET_ORDER, s);
		}
		if (chance(30))
			put_u32(m, EGPUHP_QUIRK_A_RESET_METHOD, rn(EGPUHP_RESET_MAX + 3));
		for (i = rn(chance(20) ? 12 : 4); i > 0; i--)
			put_u32(m, EGPUHP_QUIRK_A_RESET_STEP, rn(EGPUHP_RESET_MAX + 3));
		if (chance(30)) {
			random_string(s, EGPUHP_QUIRK_NOTE_LEN);
			put_str(m, EGPUHP_QUIRK_A_NOTE, s);
		}
		nest_end(m, off);
		break;
	case EGPUHP_CMD_DEL_QUIRK:
		off = nest_start(m, EGPUHP_A_QUIRK);
		put_u32(m, EGPUHP_QUIRK_A_ID, nquirk_ids && chance(60) ?
			quirk_ids[--nquirk_ids] : (uint32_t)interesting());
		nest_end(m, off);
		break;
	case EGPUHP_CMD_RESET: {
		/*
		 * Root resets a present function at most once a batch (a bus
		 * reset takes a second), with a method that leaves it in place;
		 * the rest name absent functions.
		 */
		static const uint32_t in_place[] = {
			EGPUHP_RESET_AUTO, EGPUHP_RESET_BUS, EGPUHP_RESET_LINK_RETRAIN,
			EGPUHP_RESET_PM, EGPUHP_RESET_EGPUHP,
		};
		bool live = !opt_user && live_resets_left > 0 && nlivenames && chance(50);

		if (live)
			live_resets_left--;
		if (chance(90)) {
			off = nest_start(m, EGPUHP_A_DEV);
			put_str(m, EGPUHP_DEV_A_NAME, live ? livenames[rn(nlivenames)] :
				pick_devname(opt_user));
			nest_end(m, off);
		}
		if (chance(80)) {
			off2 = nest_start(m, EGPUHP_A_RESET);
			put_u32(m, EGPUHP_RESET_A_METHOD, live ?
				in_place[rn(sizeof(in_place) / sizeof(in_place[0]))] :
				rn(EGPUHP_RESET_MAX + 3));
			nest_end(m, off2);
		}
		break;
	}
	default:
		break;
	}

	/* noise: attributes from the schema, right or wrong for this command */
	if (!opt_clean && chance(45)) {
		int n = 1 + rn(3);

		m->malformed = true;
		for (i = 0; i < n; i++) {
			const struct attr_def *d = &top_attrs[rn(nests[N_TOP].n)];

			put_value(m, d, d->type, 0);
		}
	}
	/* header flag mutations */
	if (chance(5)) {
		*flags ^= 1U << rn(12);
		m->malformed = true;
	}
	/*
	 * Every mutating request of the unprivileged fuzzer asks for an ack,
	 * so that one that got through can never go unseen.
	 */
	if (opt_user && cmd_mutates(cmd))
		*flags |= NLM_F_ACK;
	if (chance(3)) {		/* cut the message short anywhere */
		m->len = NLMSG_HDRLEN + rn(m->len - NLMSG_HDRLEN);
		m->malformed = true;
	}
	h->nlmsg_len = m->len;
	h->nlmsg_type = family;
	h->nlmsg_flags = *flags;
	if (g->version != EGPUHP_GENL_VERSION)
		m->malformed = true;
	if (cmd == 0 || cmd == EGPUHP_CMD_EVENT || cmd > EGPUHP_CMD_MAX)
		m->malformed = true;
}

/* ---- netlink plumbing ---- */

static int nl_socket(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd, one = 1, sz = 4 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind: %s", strerror(errno));
	return fd;
}

/* Family id of "egpuhp" through the controller, or -1 when it is not there. */
static int resolve_family(int fd)
{
	struct {
		struct nlmsghdr h;
		struct genlmsghdr g;
		uint8_t attrs[64];
	} req = { 0 };
	uint8_t buf[8192];
	struct nlattr *a;
	int len, alen;

	req.h.nlmsg_type = GENL_ID_CTRL;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 0x7fffffff;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	a = (struct nlattr *)req.attrs;
	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = NLA_HDRLEN + sizeof(EGPUHP_GENL_NAME);
	memcpy((uint8_t *)a + NLA_HDRLEN, EGPUHP_GENL_NAME, sizeof(EGPUHP_GENL_NAME));
	req.h.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(a->nla_len);
	if (send(fd, &req, req.h.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		struct nlmsghdr *h;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0)
			return -1;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != 0x7fffffff)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			a = (struct nlattr *)((uint8_t *)NLMSG_DATA(h) + GENL_HDRLEN);
			alen = h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
			while (alen >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
			       a->nla_len <= alen) {
				if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
					return *(uint16_t *)((uint8_t *)a + NLA_HDRLEN);
				alen -= NLA_ALIGN(a->nla_len);
				a = (struct nlattr *)((uint8_t *)a + NLA_ALIGN(a->nla_len));
			}
			return -1;
		}
	}
}

static void read_text_base(void)
{
	FILE *f;
	unsigned long long v = 0;

	text_base = 0;
	if (!opt_text_size || opt_user)
		return;
	f = fopen("/sys/module/egpuhp/sections/.text", "r");
	if (!f)
		return;
	if (fscanf(f, "%llx", &v) == 1)
		text_base = v;
	fclose(f);
}

static void refresh_devnames(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;

	ndevnames = nlivenames = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && ndevnames < 64) {
		if (e->d_name[0] == '.')
			continue;
		if (strlen(e->d_name) >= EGPUHP_PCI_NAME_LEN)
			continue;
		memcpy(devnames[ndevnames++], e->d_name, strlen(e->d_name) + 1);
		if (strncmp(e->d_name + 4, ":00:", 4) && nlivenames < 16)
			memcpy(livenames[nlivenames++], e->d_name, strlen(e->d_name) + 1);
	}
	closedir(d);
}

static void wait_for_family(int fd)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (;;) {
		int id = resolve_family(fd);

		if (id > 0) {
			family = id;
			resolves++;
			read_text_base();
			return;
		}
		absent_waits++;
		nanosleep(&ts, NULL);
		if (opt_stop && access(opt_stop, F_OK) == 0)
			return;
	}
}

static void count_error(int cmd, int err, bool wellformed)
{
	switch (err) {
	case 0:
		st[cmd].ok++;
		break;
	case EPERM:
		st[cmd].eperm++;
		break;
	case EINVAL:
	case ERANGE:
	case E2BIG:
		st[cmd].einval++;
		break;
	case ENOENT:
	case ENODEV:
		st[cmd].enoent++;
		break;
	case EOPNOTSUPP:
		st[cmd].eopnotsupp++;
		break;
	case EBUSY:
		st[cmd].ebusy++;
		break;
	default:
		st[cmd].other++;
		break;
	}
	if (opt_user && cmd_mutates(cmd)) {
		if (err == 0)
			unpriv_mutating_ok++;
		else if (wellformed && err != EPERM)
			unpriv_wellformed_not_eperm++;
	}
}

/* Remembers quirk ids root got back, so that DEL_QUIRK hits real entries. */
static void note_reply(struct nlmsghdr *h)
{
	struct nlattr *a, *q;
	int alen, qlen;

	a = (struct nlattr *)((uint8_t *)NLMSG_DATA(h) + GENL_HDRLEN);
	alen = (int)h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	while (alen >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= alen) {
		if ((a->nla_type & NLA_TYPE_MASK) == EGPUHP_A_QUIRK) {
			q = (struct nlattr *)((uint8_t *)a + NLA_HDRLEN);
			qlen = a->nla_len - NLA_HDRLEN;
			while (qlen >= NLA_HDRLEN && q->nla_len >= NLA_HDRLEN &&
			       q->nla_len <= qlen) {
				if ((q->nla_type & NLA_TYPE_MASK) == EGPUHP_QUIRK_A_ID &&
				    nquirk_ids < 256)
					quirk_ids[nquirk_ids++] = *(uint32_t *)((uint8_t *)q + NLA_HDRLEN);
				qlen -= NLA_ALIGN(q->nla_len);
				q = (struct nlattr *)((uint8_t *)q + NLA_ALIGN(q->nla_len));
			}
		}
		alen -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((uint8_t *)a + NLA_ALIGN(a->nla_len));
	}
}

/* One datagram of answers; true when it says the family is gone. */
static bool drain_one(uint8_t *buf, int len, bool truncated)
{
	bool gone = false;
	struct nlmsghdr *h;

	if (truncated)
		trunc_replies++;
	for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		int slot = h->nlmsg_seq % RING;
		int cmd = pending[slot].cmd;

		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);
			int err = -e->error;

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
				trunc_replies++;
				continue;
			}
			if (!err && !pending[slot].request) {
				/* acked without being looked at (no NLM_F_REQUEST) */
				not_requests++;
				continue;
			}
			count_error(cmd, err, pending[slot].wellformed);
			/* the family id is stale: module unloaded (or reloaded) */
			if (err == ENOENT && pending[slot].wellformed &&
			    (cmd == EGPUHP_CMD_GET_INFO || cmd == EGPUHP_CMD_GET_STATS))
				gone = true;
		} else if (h->nlmsg_type == NLMSG_DONE) {
			st[cmd].ok++;
		} else {
			st[cmd].replies++;
			if (h->nlmsg_flags & NLM_F_MULTI)
				dump_parts++;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				dump_intr++;
			if (opt_user && cmd_mutates(cmd))
				unpriv_mutating_ok++;
			if (!opt_user && cmd == EGPUHP_CMD_ADD_QUIRK)
				note_reply(h);
		}
	}
	return gone;
}

#define RECV_VEC	64
#define RECV_BUF	8192

/*
 * Reads everything queued on FD, up to RECV_VEC answers per recvmmsg();
 * true when the family seems to be gone.  RECV_BUF bounds what the kernel
 * allocates for each dump part (netlink_dump() sizes its skb after the
 * largest buffer a recvmsg() offered, up to 32 KiB); every egpuhp answer
 * fits in NLMSG_GOODSIZE.
 */
static bool drain(int fd)
{
	static uint8_t bufs[RECV_VEC][RECV_BUF];
	static struct iovec iov[RECV_VEC];
	static struct mmsghdr mm[RECV_VEC];
	bool gone = false;
	int got, k;

	for (k = 0; k < RECV_VEC; k++) {
		iov[k].iov_base = bufs[k];
		iov[k].iov_len = RECV_BUF;
	}
	for (;;) {
		for (k = 0; k < RECV_VEC; k++) {
			memset(&mm[k].msg_hdr, 0, sizeof(mm[k].msg_hdr));
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(fd, mm, RECV_VEC, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == ENOBUFS) {
				enobufs++;
				continue;
			}
			break;
		}
		for (k = 0; k < got; k++)
			gone |= drain_one(bufs[k], mm[k].msg_len,
					  mm[k].msg_hdr.msg_flags & MSG_TRUNC);
		if (got < RECV_VEC)
			break;
	}
	return gone;
}

/* Starts a dump on a socket of its own and closes it after at most one read. */
static void abandoned_dump(void)
{
	struct msg m;
	uint16_t flags;
	static const int dumps[] = { EGPUHP_CMD_GET_DEV, EGPUHP_CMD_GET_ROUTER,
				     EGPUHP_CMD_GET_QUIRK };
	int fd = nl_socket();
	uint8_t buf[256];
	struct nlmsghdr *h;

	build_request(&m, dumps[rn(3)], &flags);
	h = (struct nlmsghdr *)m.buf;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	h->nlmsg_seq = 0;
	if (send(fd, m.buf, h->nlmsg_len, 0) >= 0 && chance(50))
		(void)!recv(fd, buf, sizeof(buf), MSG_DONTWAIT);	/* a part, maybe */
	close(fd);
	abandoned_dumps++;
}

/* ---- KCOV ---- */

static unsigned long kcov_words = KCOV_WORDS;

static int kcov_setup(void)
{
	int fd;

	if (!opt_text_size)
		return -1;
	fd = open("/sys/kernel/debug/kcov", O_RDWR);
	if (fd < 0)
		die("open kcov: %s", strerror(errno));
	if (ioctl(fd, KCOV_INIT_TRACE, kcov_words))
		die("KCOV_INIT_TRACE: %s", strerror(errno));
	kcov_area = mmap(NULL, kcov_words * sizeof(unsigned long), PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	if (kcov_area == MAP_FAILED)
		die("mmap kcov: %s", strerror(errno));
	cover_bits = calloc(opt_text_size / 8 + 1, 1);
	if (!cover_bits)
		die("out of memory");
	return fd;
}

/* New PCs in egpuhp's .text since the last call. */
static unsigned long kcov_collect(void)
{
	unsigned long n, i, fresh = 0;

	if (!kcov_area)
		return 0;
	n = __atomic_load_n(&kcov_area[0], __ATOMIC_RELAXED);
	if (n >= kcov_words - 1) {
		n = kcov_words - 1;
		kcov_full = true;	/* PCs after these were dropped */
	}
	for (i = 0; i < n && text_base; i++) {
		uint64_t pc = kcov_area[i + 1];
		uint64_t off;

		if (pc < text_base || pc >= text_base + opt_text_size)
			continue;
		off = pc - text_base;
		if (!(cover_bits[off / 8] & (1U << (off % 8)))) {
			cover_bits[off / 8] |= 1U << (off % 8);
			cover_count++;
			fresh++;
		}
	}
	__atomic_store_n(&kcov_area[0], 0, __ATOMIC_RELAXED);
	return fresh;
}

static void write_cover(const char *mode)
{
	FILE *f;
	unsigned long off;

	if (!opt_cover || !cover_bits)
		return;
	f = fopen(opt_cover, mode);
	if (!f)
		die("%s: %s", opt_cover, strerror(errno));
	for (off = 0; off < opt_text_size; off++)
		if (cover_bits[off / 8] & (1U << (off % 8)))
			fprintf(f, "0x%lx\n", off);
	fclose(f);
}

/* ---- steering ---- */

static int pick_cmd(void)
{
	double sum = 0, r;
	int c;

	for (c = 0; c < NCMD; c++)
		sum += st[c].weight;
	r = (double)(rnd() % 1000000) / 1000000.0 * sum;
	for (c = 0; c < NCMD; c++) {
		r -= st[c].weight;
		if (r < 0)
			return c;
	}
	return EGPUHP_CMD_GET_INFO;
}

static void reweigh(int cmd, unsigned long fresh)
{
	int c;

	st[cmd].new_pcs += fresh;
	/* recent finds count most; a command that found nothing decays to 1 */
	st[cmd].weight = 1.0 + (st[cmd].weight - 1.0) * 0.9 + (double)fresh * 2.0;
	if (st[cmd].weight > 400)
		st[cmd].weight = 400;
	for (c = 0; c < NCMD; c++)
		if (!st[c].batches)
			st[c].weight = 50;	/* not tried yet */
}

static void report(void)
{
	int c;

	printf("{\"user\":%s,\"messages\":%lu,\"resolves\":%lu,\"absent_waits\":%lu,"
	       "\"abandoned_dumps\":%lu,\"dump_parts\":%lu,\"dump_intr\":%lu,\"enobufs\":%lu,"
	       "\"truncated_replies\":%lu,\"unpriv_mutating_ok\":%lu,"
	       "\"unpriv_wellformed_not_eperm\":%lu,\"not_requests\":%lu,"
	       "\"cover_pcs\":%lu,\"cmds\":{",
	       opt_user ? "true" : "false", total_sent, resolves, absent_waits,
	       abandoned_dumps, dump_parts, dump_intr, enobufs, trunc_replies,
	       unpriv_mutating_ok, unpriv_wellformed_not_eperm, not_requests, cover_count);
	for (c = 0; c < NCMD; c++)
		printf("%s\"%s\":{\"sent\":%lu,\"wellformed\":%lu,\"ok\":%lu,\"replies\":%lu,"
		       "\"eperm\":%lu,\"einval\":%lu,\"enoent\":%lu,\"eopnotsupp\":%lu,"
		       "\"ebusy\":%lu,\"other\":%lu,\"new_pcs\":%lu}",
		       c ? "," : "", cmd_names[c] ? cmd_names[c] : "?", st[c].sent, st[c].wellformed, st[c].ok,
		       st[c].replies, st[c].eperm, st[c].einval, st[c].enoent,
		       st[c].eopnotsupp, st[c].ebusy, st[c].other, st[c].new_pcs);
	printf("}}\n");
	fflush(stdout);
}

/* ---- one well-formed request (the fault-injection test's driver) ---- */

static int opt_fail_nth;	/* --fail-nth: fail the N-th matching allocation */

/*
 * /proc/thread-self/fail-nth arms the fault injection for this task only;
 * it is set right before the action and read right after: 0 left means the
 * failure was injected (also when the allocation was __GFP_NOWARN and
 * printed nothing), more means the action had fewer allocations to fail.
 */
static void fail_nth_arm(void)
{
	char buf[16];
	int fd, n;

	if (!opt_fail_nth)
		return;
	fd = open("/proc/thread-self/fail-nth", O_WRONLY);
	n = snprintf(buf, sizeof(buf), "%d", opt_fail_nth);
	if (fd < 0 || write(fd, buf, n) != n)
		die("fail-nth: %s", strerror(errno));
	close(fd);
}

static void fail_nth_report(void)
{
	char buf[16] = "";
	int fd;

	if (!opt_fail_nth)
		return;
	fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die("fail-nth: %s", strerror(errno));
	(void)!write(fd, "0", 1);	/* disarm */
	close(fd);
	printf("fail_nth_left=%d\n", atoi(buf));
}

/*
 * KCOV around one action of the host's churn (--kcov and --cover before
 * --insmod, --rmmod or --write): the egpuhp code the write, load or unload
 * ran in this task is appended to the cover file.  The load address is
 * read where the module is loaded: after a load, before an unload.
 */
static int kcov_fd_action = -1;

static void action_kcov_begin(bool base_now)
{
	if (!opt_text_size)
		return;
	kcov_words = KCOV_WORDS_ACTION;
	kcov_fd_action = kcov_setup();
	if (base_now)
		read_text_base();
	if (ioctl(kcov_fd_action, KCOV_ENABLE, KCOV_TRACE_PC))
		die("KCOV_ENABLE: %s", strerror(errno));
	__atomic_store_n(&kcov_area[0], 0, __ATOMIC_RELAXED);
}

static void action_kcov_end(bool base_now)
{
	if (kcov_fd_action < 0)
		return;
	if (base_now)
		read_text_base();
	kcov_collect();
	write_cover("a");
	printf("cover_pcs=%lu kcov_full=%d\n", cover_count, kcov_full);
}

/* finit_module(PATH, PARAMS) with fail-nth armed; prints the result. */
static int load_module(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	action_kcov_begin(false);
	fail_nth_arm();
	ret = syscall(__NR_finit_module, fd, params ? params : "", 0);
	printf("errno=%d\n", ret ? errno : 0);
	fail_nth_report();
	action_kcov_end(true);
	close(fd);
	return 0;
}

/* delete_module(NAME) (rmmod); prints the result. */
static int unload_module(const char *name)
{
	int ret;

	action_kcov_begin(true);
	ret = syscall(__NR_delete_module, name, O_NONBLOCK);
	printf("errno=%d\n", ret ? errno : 0);
	action_kcov_end(false);
	return 0;
}

/* write(PATH, VALUE) with fail-nth armed (the sysfs reset file). */
static int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t ret;

	if (fd < 0 && !opt_fail_nth) {
		/* the churn's device may be gone (ejected by the fuzzer) */
		printf("errno=%d (open)\n", errno);
		return 0;
	}
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	action_kcov_begin(true);
	fail_nth_arm();
	ret = write(fd, value, strlen(value));
	printf("errno=%d\n", ret < 0 ? errno : 0);
	fail_nth_report();
	action_kcov_end(false);
	close(fd);
	return 0;
}

static int cmd_by_name(const char *name)
{
	int c;

	for (c = 0; c < NCMD - 1; c++)
		if (cmd_names[c] && !strcmp(cmd_names[c], name))
			return c;
	die("unknown command %s", name);
	return -1;
}

/*
 * Sends one well-formed CMD (a dump for the GET commands that have one,
 * when DUMP) and prints "errno=E replies=R id=I"; exit status 0 whatever
 * the kernel answered, 2 when the request could not be sent.
 */
static int one_request(const char *name, const char *dev, uint32_t id, bool dump)
{
	struct msg m = { 0 };
	struct nlmsghdr *h = (struct nlmsghdr *)m.buf;
	struct genlmsghdr *g = (struct genlmsghdr *)(m.buf + NLMSG_HDRLEN);
	int cmd = cmd_by_name(name), fd, off, off2, err = -1, replies = 0, len;
	static uint8_t buf[1 << 16];
	bool done = false;

	fd = nl_socket();
	family = resolve_family(fd);
	if (family < 0) {
		printf("errno=%d replies=0 id=0 (no family)\n", ENOENT);
		return 0;
	}
	m.len = NLMSG_HDRLEN + GENL_HDRLEN;
	g->cmd = cmd;
	g->version = EGPUHP_GENL_VERSION;
	put_u32(&m, EGPUHP_A_VERSION, EGPUHP_GENL_VERSION);
	switch (cmd) {
	case EGPUHP_CMD_GET_DEV:
	case EGPUHP_CMD_EJECT:
	case EGPUHP_CMD_RESET:
		if (dev && !dump) {
			off = nest_start(&m, EGPUHP_A_DEV);
			put_str(&m, EGPUHP_DEV_A_NAME, dev);
			nest_end(&m, off);
		}
		if (cmd == EGPUHP_CMD_RESET) {
			off2 = nest_start(&m, EGPUHP_A_RESET);
			put_u32(&m, EGPUHP_RESET_A_METHOD, id);
			nest_end(&m, off2);
		}
		break;
	case EGPUHP_CMD_GET_ROUTER:
		if (dev && !dump) {
			off = nest_start(&m, EGPUHP_A_ROUTER);
			put_str(&m, EGPUHP_ROUTER_A_NAME, dev);
			nest_end(&m, off);
		}
		break;
	case EGPUHP_CMD_SET_CONFIG:
		off = nest_start(&m, EGPUHP_A_CONFIG);
		put(&m, EGPUHP_CONFIG_A_TRACK_HOTPLUG, &(uint8_t){ 1 }, 1);
		put_u32(&m, EGPUHP_CONFIG_A_WATCHDOG_MS, id ? id : 1000);
		nest_end(&m, off);
		break;
	case EGPUHP_CMD_ADD_QUIRK:
		off = nest_start(&m, EGPUHP_A_QUIRK);
		put(&m, EGPUHP_QUIRK_A_VENDOR, &(uint16_t){ 0x1234 }, 2);
		put(&m, EGPUHP_QUIRK_A_DEVICE, &(uint16_t){ 0x11e8 }, 2);
		if (id) {	/* --id: these actions (no values) instead */
			put_u32(&m, EGPUHP_QUIRK_A_ACTIONS, id);
		} else {
			put_u32(&m, EGPUHP_QUIRK_A_ACTIONS, EGPUHP_QUIRK_NO_D3COLD |
				EGPUHP_QUIRK_D3HOT_DELAY | EGPUHP_QUIRK_EGPUHP_RESET);
			put_u32(&m, EGPUHP_QUIRK_A_D3HOT_DELAY_MS, 20);
			put_u32(&m, EGPUHP_QUIRK_A_RESET_STEP, EGPUHP_RESET_PM);
		}
		put_str(&m, EGPUHP_QUIRK_A_NOTE, "nlfuzz --one");
		nest_end(&m, off);
		break;
	case EGPUHP_CMD_DEL_QUIRK:
		off = nest_start(&m, EGPUHP_A_QUIRK);
		put_u32(&m, EGPUHP_QUIRK_A_ID, id);
		nest_end(&m, off);
		break;
	default:
		break;
	}
	h->nlmsg_len = m.len;
	h->nlmsg_type = family;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0);
	h->nlmsg_seq = 1;
	action_kcov_begin(true);
	fail_nth_arm();
	if (send(fd, m.buf, m.len, 0) < 0)
		die("send: %s", strerror(errno));
	nquirk_ids = 0;
	while (!done) {
		struct nlmsghdr *r;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0)
			die("recv: %s", strerror(errno));
		for (r = (struct nlmsghdr *)buf; NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
			if (r->nlmsg_type == NLMSG_ERROR) {
				err = -((struct nlmsgerr *)NLMSG_DATA(r))->error;
				done = true;
			} else if (r->nlmsg_type == NLMSG_DONE) {
				err = *(int *)NLMSG_DATA(r) < 0 ? -*(int *)NLMSG_DATA(r) : 0;
				done = true;
			} else {
				replies++;
				note_reply(r);
			}
		}
	}
	printf("errno=%d replies=%d id=%u\n", err, replies, nquirk_ids ? quirk_ids[0] : 0);
	fail_nth_report();
	action_kcov_end(false);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t batch[BATCH_MAX * MSG_MAX];
	unsigned long since_resolve = 0;
	const char *one_cmd = NULL, *one_dev = NULL;
	uint32_t one_id = 0;
	bool one_dump = false;
	int fd, kcov_fd, i, c;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--user"))
			opt_user = true;
		else if (!strcmp(argv[i], "--keep-root"))
			opt_keep_root = true;
		else if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			opt_messages = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--clean"))
			opt_clean = true;
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			opt_batch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ack") && i + 1 < argc)
			opt_ack_pct = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			opt_only = cmd_by_name(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 0) * 0x9e3779b97f4a7c15ULL | 1;
		else if (!strcmp(argv[i], "--kcov") && i + 1 < argc)
			opt_text_size = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--cover") && i + 1 < argc)
			opt_cover = argv[++i];
		else if (!strcmp(argv[i], "--stop") && i + 1 < argc)
			opt_stop = argv[++i];
		else if (!strcmp(argv[i], "--one") && i + 1 < argc)
			one_cmd = argv[++i];
		else if (!strcmp(argv[i], "--dev") && i + 1 < argc)
			one_dev = argv[++i];
		else if (!strcmp(argv[i], "--id") && i + 1 < argc)
			one_id = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--dump"))
			one_dump = true;
		else if (!strcmp(argv[i], "--fail-nth") && i + 1 < argc)
			opt_fail_nth = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--insmod") && i + 2 < argc)
			return load_module(argv[i + 1], argv[i + 2]);
		else if (!strcmp(argv[i], "--rmmod") && i + 1 < argc)
			return unload_module(argv[i + 1]);
		else if (!strcmp(argv[i], "--write") && i + 2 < argc)
			return write_file(argv[i + 1], argv[i + 2]);
		else
			die("usage: egpuhp-nlfuzz [--user] [--messages N] [--seed S] "
			    "[--kcov TEXT_SIZE --cover FILE] [--stop FILE] | "
			    "--one CMD [--dev NAME] [--id N] [--dump]");
	}
	if (one_cmd)
		return one_request(one_cmd, one_dev, one_id, one_dump);
	if (opt_batch < 1 || opt_batch > BATCH_MAX)
		die("--batch takes 1..%d", BATCH_MAX);
	if (opt_user && opt_text_size)
		die("--kcov needs root (the module's load address is root-only)");
	kcov_fd = kcov_setup();
	refresh_devnames();
	if (opt_user && !opt_keep_root) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			die("dropping to 65534: %s", strerror(errno));
		if (setuid(0) == 0)
			die("uid 0 could be taken back");
	}
	fd = nl_socket();
	wait_for_family(fd);
	if (kcov_fd >= 0 && ioctl(kcov_fd, KCOV_ENABLE, KCOV_TRACE_PC))
		die("KCOV_ENABLE: %s", strerror(errno));
	for (c = 0; c < NCMD; c++)
		st[c].weight = 50;

	while (total_sent < opt_messages) {
		int cmd = opt_only >= 0 ? opt_only : pick_cmd(), n = 0, blen = 0;
		bool gone;

		if (cmd == NCMD - 1)
			cmd = EGPUHP_CMD_MAX + 1 + rn(200);
		live_resets_left = 1;
		for (i = 0; i < opt_batch; i++) {
			struct msg m;
			uint16_t flags;
			struct nlmsghdr *h;
			int slot, c2 = cmd > EGPUHP_CMD_MAX ? NCMD - 1 : cmd;

			build_request(&m, cmd, &flags);
			h = (struct nlmsghdr *)m.buf;
			h->nlmsg_seq = seq;
			slot = seq % RING;
			pending[slot].cmd = c2;
			pending[slot].wellformed = !m.malformed;
			pending[slot].request = flags & NLM_F_REQUEST;
			seq = seq + 1 ? seq + 1 : 1;
			memcpy(batch + blen, m.buf, NLMSG_ALIGN(m.len));
			blen += NLMSG_ALIGN(m.len);
			st[c2].sent++;
			if (!m.malformed)
				st[c2].wellformed++;
			n++;
		}
		if (send(fd, batch, blen, 0) < 0 && errno != ENOBUFS &&
		    errno != ECONNREFUSED && errno != EAGAIN)
			die("send: %s", strerror(errno));
		total_sent += n;
		gone = drain(fd);
		c = cmd > EGPUHP_CMD_MAX ? NCMD - 1 : cmd;
		st[c].batches++;
		reweigh(c, kcov_collect());

		/* one in 800 messages, whatever the batch size */
		if (rn(800) < (unsigned int)n)
			abandoned_dump();
		since_resolve += n;
		/*
		 * Find out whether the family went away or came back with a new
		 * id: on a stale id every request fails with ENOENT.
		 */
		if (gone || since_resolve > 4096) {
			int id = resolve_family(fd);

			since_resolve = 0;
			if (id < 0)
				wait_for_family(fd);
			else if (id != family) {
				family = id;
				resolves++;
				read_text_base();
			}
			if (!opt_user)
				refresh_devnames();
		}
		if (opt_stop && access(opt_stop, F_OK) == 0)
			break;
	}
	kcov_collect();
	write_cover("w");
	report();
	return 0;
}
