// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: building events and multicasting them on the "events" group.
 *
 * A message is built first (it may allocate and sleep), then its sequence
 * number is filled in and it is multicast inside one spinlock, so numbers
 * have no gaps by construction and every listener receives them in
 * increasing order.  The lock is BH-safe and the clones are GFP_ATOMIC, so
 * the send path works from process and softirq context alike (the hooks
 * we have all run in process context and build with GFP_KERNEL).
 *
 * An event is lost, before it gets a number, when its message cannot be
 * allocated or filled (counted in alloc_fail, with a rate-limited warning)
 * and, silently, while events are off: before the family is registered and
 * from the start of module unload.  No number is consumed then, so the
 * stream itself stays gapless and a listener learns of a loss from the
 * counters or a dump.
 *
 * Delivery failures (a listener's socket buffer full) are reported back
 * to the sender only for listeners that set NETLINK_BROADCAST_ERROR on
 * their socket; mcast_fail counts those.  Every overrun listener gets
 * ENOBUFS from recv() in any case and must resync with a dump.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/spinlock.h>
#include <linux/ktime.h>

#include "egpuhp.h"
#include "quirks.h"

static DEFINE_SPINLOCK(send_lock);
static u64 last_seq;		/* protected by send_lock */
static struct egpuhp_stats stats;	/* protected by send_lock */
static atomic64_t alloc_fail = ATOMIC64_INIT(0);

/*
 * genl_register_family() must have succeeded before anything is sent, and
 * nothing may be multicast once genl_unregister_family() has begun: read
 * without the lock only to skip building a message, decided under it.
 */
static bool events_on;		/* written under send_lock */

/**
 * egpuhp_event_enable() - switch sending events on or off
 * @on: true once the family is registered, false before it is unregistered
 *
 * The switch is taken under the send lock, so no event is in flight once
 * egpuhp_event_enable(false) returns; events built meanwhile are dropped
 * without a sequence number.
 */
void egpuhp_event_enable(bool on)
{
	spin_lock_bh(&send_lock);
	WRITE_ONCE(events_on, on);
	spin_unlock_bh(&send_lock);
}

/**
 * egpuhp_now_ns() - the time stamp of an event
 *
 * Return: CLOCK_BOOTTIME in ns, which keeps counting across suspend.
 */
u64 egpuhp_now_ns(void)
{
	return ktime_get_boottime_ns();
}

/**
 * egpuhp_event_last_seq() - the sequence number of the last event sent
 *
 * Return: 0 before the first event.
 */
u64 egpuhp_event_last_seq(void)
{
	u64 seq;

	spin_lock_bh(&send_lock);
	seq = last_seq;
	spin_unlock_bh(&send_lock);
	return seq;
}

/**
 * egpuhp_event_get_stats() - read the event counters
 * @st: where the counters go
 */
void egpuhp_event_get_stats(struct egpuhp_stats *st)
{
	spin_lock_bh(&send_lock);
	*st = stats;
	spin_unlock_bh(&send_lock);
	st->alloc_fail = atomic64_read(&alloc_fail);
}

/*
 * Room for one event.  Every string in an event has a protocol maximum,
 * so the largest (a router event) stays under about 800 bytes; a small
 * buffer keeps the allocation cheap and lets a listener's socket buffer
 * hold four times as many events as NLMSG_GOODSIZE would.
 */
#define EVENT_PAYLOAD	1024

struct event_msg {
	struct sk_buff *skb;
	void *hdr;
	struct nlattr *seq;
};

static int event_begin(struct event_msg *m, enum egpuhp_event ev, u32 flags,
		       u64 ts_ns, gfp_t gfp)
{
	m->skb = genlmsg_new(EVENT_PAYLOAD, gfp);
	if (!m->skb)
		return -ENOMEM;
	m->hdr = genlmsg_put(m->skb, 0, 0, &egpuhp_genl_family, 0,
			     EGPUHP_CMD_EVENT);
	if (!m->hdr)
		goto nospace;
	if (egpuhp_nl_put_version(m->skb))
		goto nospace;
	/* the number is assigned at send time, under send_lock */
	m->seq = nla_reserve_64bit(m->skb, EGPUHP_A_SEQ, sizeof(u64),
				   EGPUHP_A_PAD);
	if (!m->seq ||
	    nla_put_u64_64bit(m->skb, EGPUHP_A_TIMESTAMP_NS, ts_ns,
			      EGPUHP_A_PAD) ||
	    nla_put_u32(m->skb, EGPUHP_A_EVENT, ev) ||
	    nla_put_u32(m->skb, EGPUHP_A_FLAGS, flags))
		goto nospace;
	return 0;

nospace:
	nlmsg_free(m->skb);
	m->skb = NULL;
	return -EMSGSIZE;
}

static void event_lost(void)
{
	atomic64_inc(&alloc_fail);
	pr_warn_ratelimited("event lost (out of memory)\n");
}

static void event_send(struct event_msg *m)
{
	u64 seq;
	int ret;

	genlmsg_end(m->skb, m->hdr);
	spin_lock_bh(&send_lock);
	if (!events_on) {
		/* the family is being unregistered (module unload) */
		spin_unlock_bh(&send_lock);
		nlmsg_free(m->skb);
		return;
	}
	seq = ++last_seq;
	memcpy(nla_data(m->seq), &seq, sizeof(seq));
	stats.events++;
	/* the clones for listeners are made inside the lock */
	ret = genlmsg_multicast(&egpuhp_genl_family, m->skb, 0, 0, GFP_ATOMIC);
	if (ret == -ESRCH)
		stats.no_listener++;
	else if (ret)
		stats.mcast_fail++;
	spin_unlock_bh(&send_lock);
}

/*
 * Open an event: false if events are off, or if the message could not be
 * started (the event is counted lost).
 */
static bool event_open(struct event_msg *m, enum egpuhp_event ev, u32 flags,
		       u64 ts_ns, gfp_t gfp)
{
	if (!READ_ONCE(events_on))
		return false;
	if (event_begin(m, ev, flags, ts_ns, gfp)) {
		event_lost();
		return false;
	}
	return true;
}

/* Send an opened event, or drop it and count it lost if filling it failed. */
static void event_close(struct event_msg *m, int fill_err)
{
	if (fill_err) {
		nlmsg_free(m->skb);
		event_lost();
		return;
	}
	event_send(m);
}

/**
 * egpuhp_event_pci() - send an event about a tracked PCI function
 * @ev: the event
 * @d: the function's entry; the caller holds the table lock
 * @flags: EGPUHP_F_* flags of the event
 * @ts_ns: the time stamp taken at the hook (egpuhp_now_ns())
 * @atomic: build the message with GFP_ATOMIC
 *
 * Context: may sleep unless @atomic is set.
 */
void egpuhp_event_pci(enum egpuhp_event ev, struct egpuhp_dev *d, u32 flags,
		      u64 ts_ns, bool atomic)
{
	struct event_msg m;

	if (event_open(&m, ev, flags, ts_ns, atomic ? GFP_ATOMIC : GFP_KERNEL))
		event_close(&m, egpuhp_nl_put_dev(m.skb, d->pdev, d));
}

/**
 * egpuhp_event_pci_slow() - send EGPUHP_EV_PCI_SLOW for a tracked function
 * @d: the function's entry; the caller holds the table lock
 * @ts_ns: the time stamp taken before the presence read (egpuhp_now_ns())
 * @answer_us: how long the presence read took
 *
 * Context: process context; may sleep.
 */
void egpuhp_event_pci_slow(struct egpuhp_dev *d, u64 ts_ns, u32 answer_us)
{
	struct event_msg m;
	int ret;

	if (!event_open(&m, EGPUHP_EV_PCI_SLOW, 0, ts_ns, GFP_KERNEL))
		return;
	ret = egpuhp_nl_put_dev(m.skb, d->pdev, d);
	if (!ret)
		ret = nla_put_u32(m.skb, EGPUHP_A_ANSWER_US, answer_us);
	event_close(&m, ret);
}

/**
 * egpuhp_event_router() - send an event about a Thunderbolt router
 * @ev: the event
 * @r: the router's attributes
 * @flags: EGPUHP_F_* flags of the event
 * @ts_ns: the time stamp taken at the hook (egpuhp_now_ns())
 *
 * Context: process context; may sleep.
 */
void egpuhp_event_router(enum egpuhp_event ev, const struct egpuhp_router *r,
			 u32 flags, u64 ts_ns)
{
	struct event_msg m;

	if (event_open(&m, ev, flags, ts_ns, GFP_KERNEL))
		event_close(&m, egpuhp_nl_put_router(m.skb, r));
}

/* Quirk and reset events name the function whether it is tracked or not. */
static int put_pdev(struct sk_buff *skb, struct pci_dev *pdev)
{
	struct egpuhp_dev *d;
	int ret;

	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	ret = egpuhp_nl_put_dev(skb, pdev, d);
	egpuhp_devtab_unlock();
	egpuhp_dev_put(d);
	return ret;
}

/* event_open() for an event about @pdev, stamped now */
static bool pdev_event_open(struct event_msg *m, enum egpuhp_event ev,
			    struct pci_dev *pdev)
{
	if (!event_open(m, ev, 0, egpuhp_now_ns(), GFP_KERNEL))
		return false;
	if (put_pdev(m->skb, pdev)) {
		event_close(m, -EMSGSIZE);
		return false;
	}
	return true;
}

static int put_quirk_actions(struct sk_buff *skb, u32 actions)
{
	struct nlattr *nest = nla_nest_start(skb, EGPUHP_A_QUIRK);

	if (!nest || nla_put_u32(skb, EGPUHP_QUIRK_A_ACTIONS, actions))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/**
 * egpuhp_event_quirk_applied() - send EGPUHP_EV_QUIRK_APPLIED for a PCI function
 * @pdev: the function, tracked or not
 * @actions: the EGPUHP_QUIRK_* actions applied
 *
 * Context: process context; may sleep.  Takes the table lock.
 */
void egpuhp_event_quirk_applied(struct pci_dev *pdev, u32 actions)
{
	struct event_msg m;

	if (pdev_event_open(&m, EGPUHP_EV_QUIRK_APPLIED, pdev))
		event_close(&m, put_quirk_actions(m.skb, actions));
}

static int put_reset(struct sk_buff *skb, enum egpuhp_event ev, u32 method,
		     u32 step, u64 duration_ns, int result)
{
	struct nlattr *nest = nla_nest_start(skb, EGPUHP_A_RESET);

	if (!nest || nla_put_u32(skb, EGPUHP_RESET_A_METHOD, method))
		return -EMSGSIZE;
	if (step && nla_put_u32(skb, EGPUHP_RESET_A_STEP, step))
		return -EMSGSIZE;
	if ((ev == EGPUHP_EV_RESET_END || ev == EGPUHP_EV_RESET_STEP_END) &&
	    (nla_put_u64_64bit(skb, EGPUHP_RESET_A_DURATION_NS, duration_ns,
			       EGPUHP_RESET_A_PAD) ||
	     nla_put_s32(skb, EGPUHP_RESET_A_RESULT, result)))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/**
 * egpuhp_event_reset() - send a reset event for a PCI function
 * @pdev: the function, tracked or not
 * @ev: EGPUHP_EV_RESET_BEGIN, _END, _STEP_BEGIN or _STEP_END
 * @method: the reset method (the step's, in step events)
 * @step: the step's number in a sequence, from 1; 0 outside step events
 * @duration_ns: how long it took (end events only)
 * @result: 0 or a negative errno (end events only)
 *
 * Context: process context; may sleep.  Takes the table lock.
 */
void egpuhp_event_reset(struct pci_dev *pdev, enum egpuhp_event ev,
			u32 method, u32 step, u64 duration_ns, int result)
{
	struct event_msg m;

	if (pdev_event_open(&m, ev, pdev))
		event_close(&m, put_reset(m.skb, ev, method, step, duration_ns,
					  result));
}
