// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: PCIe link speed and width of a tracked function's upstream link.
 *
 * Bandwidth-notification interrupts belong to the port driver, so the link
 * is read when asked: a device read or dump shows it as it is then (and
 * stores nothing), and each watchdog tick stores changes and sends
 * EGPUHP_EV_LINK_CHANGE.  Reading two config registers per device keeps
 * that cheap.
 */
#include <linux/pci.h>

#include "egpuhp.h"

static u32 speed_mbs(u32 code)
{
	static const u32 mbs[] = { 0, 2500, 5000, 8000, 16000, 32000, 64000 };

	return code < ARRAY_SIZE(mbs) ? mbs[code] : 0;
}

/* the smaller of two capabilities, where 0 means "not reported" */
static u32 min_known(u32 a, u32 b)
{
	if (!a || !b)
		return a ? a : b;
	return min(a, b);
}

static bool is_downstream_port(struct pci_dev *pdev)
{
	int type = pci_pcie_type(pdev);

	return type == PCI_EXP_TYPE_ROOT_PORT || type == PCI_EXP_TYPE_DOWNSTREAM;
}

/**
 * egpuhp_link_read() - read speed and width of a function's upstream link
 * @pdev: the function
 * @link: where the values go; all 0 if nothing is readable
 *
 * The link is read on the downstream port above the function where there
 * is one: its registers stay readable while the device itself may not.
 * A switch's downstream ports sit on a virtual internal link and report
 * nothing.  Sends nothing and stores nothing.
 */
void egpuhp_link_read(struct pci_dev *pdev, struct egpuhp_link *link)
{
	struct pci_dev *up = pci_upstream_bridge(pdev);
	u32 cap_up = 0, cap_dev = 0;
	u16 sta;

	memset(link, 0, sizeof(*link));
	if (!up || !pci_is_pcie(up) || !is_downstream_port(up))
		return;
	if (pcie_capability_read_word(up, PCI_EXP_LNKSTA, &sta) ||
	    sta == (u16)~0 ||
	    pcie_capability_read_dword(up, PCI_EXP_LNKCAP, &cap_up))
		return;
	/* a conventional PCI function behind the port: the port's side only */
	if (!pci_is_pcie(pdev) ||
	    pcie_capability_read_dword(pdev, PCI_EXP_LNKCAP, &cap_dev) ||
	    cap_dev == ~0U)
		cap_dev = 0;

	link->cur_speed = speed_mbs(sta & PCI_EXP_LNKSTA_CLS);
	link->cur_width = (sta & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT;
	link->max_speed = min_known(speed_mbs(cap_up & PCI_EXP_LNKCAP_SLS),
				    speed_mbs(cap_dev & PCI_EXP_LNKCAP_SLS));
	link->max_width = min_known((cap_up & PCI_EXP_LNKCAP_MLW) >> 4,
				    (cap_dev & PCI_EXP_LNKCAP_MLW) >> 4);
}

/**
 * egpuhp_link_poll_all() - find link changes of every tracked function
 *
 * Stores each changed link in its entry and sends EGPUHP_EV_LINK_CHANGE;
 * functions removed or lost are left out.  Takes the table lock.
 *
 * Context: process context (the watchdog's tick); may sleep.
 */
void egpuhp_link_poll_all(void)
{
	struct egpuhp_link link;
	struct egpuhp_dev *d;
	u64 ts;

	egpuhp_devtab_lock();
	egpuhp_for_each_dev(d) {
		if (d->removed_sent || d->lost_sent)
			continue;
		ts = egpuhp_now_ns();
		egpuhp_link_read(d->pdev, &link);
		if (!link.cur_speed || !memcmp(&link, &d->link, sizeof(link)))
			continue;
		d->link = link;
		egpuhp_event_pci(EGPUHP_EV_LINK_CHANGE, d, 0, ts, false);
	}
	egpuhp_devtab_unlock();
}
