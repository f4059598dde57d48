// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: built-in quirk entries.
 *
 * Every entry cites the public evidence it rests on; none is a guess.
 * Entries the running kernel already applies by itself (its own
 * drivers/pci/quirks.c) are harmless here: egpuhp records that the device
 * has the property and shows why, and the kernels that lack the quirk get
 * it.
 *
 * Not here yet, on purpose: AMD Polaris 10/11/12, Vega 10/20 and Navi
 * 12/14/23 GPUs, which need a vendor register sequence (BACO / PSP mode 1
 * reset) to be reset at all (gnif/vendor-reset src/device-db.h lists
 * them).  Such a sequence plugs in as one more method in reset.c once it
 * can be tested on the hardware; a table entry with EGPUHP_QUIRK_EGPUHP_RESET
 * and that method will then route the kernel's reset of those GPUs to it.
 */
#include "egpuhp.h"
#include "quirks.h"

#define ANY	EGPUHP_QUIRK_ANY_ID

#define NAVI10(dev)							\
	{								\
		.vendor = PCI_VENDOR_ID_ATI, .device = (dev),		\
		.subsys_vendor = ANY, .subsys_device = ANY,		\
		.actions = EGPUHP_QUIRK_NO_BUS_RESET,			\
		.source = EGPUHP_QUIRK_SRC_BUILTIN,			\
		.note = "AMD Navi 10: bus reset leaves GPU unusable "	\
			"(linux-pci Navi 10 reset quirk, 2019; vendor-reset)", \
	}

const struct egpuhp_quirk egpuhp_builtin_quirks[] = {
	/*
	 * AMD/ATI VGA functions advertise NoSoftRst- but a D3hot->D0 cycle
	 * does not reset them; VFIO then trusts a reset that did nothing.
	 * Kernel: quirk_no_pm_reset() in drivers/pci/quirks.c, applied by
	 * DECLARE_PCI_FIXUP_CLASS_HEADER(PCI_VENDOR_ID_ATI, PCI_ANY_ID,
	 * PCI_CLASS_DISPLAY_VGA, 8, ...), commit "PCI: quirk AMD/ATI VGA
	 * cards to avoid PM reset" (Alex Williamson, 2014).
	 */
	{
		.vendor = PCI_VENDOR_ID_ATI, .device = ANY,
		.subsys_vendor = ANY, .subsys_device = ANY,
		.class = PCI_CLASS_DISPLAY_VGA << 8, .class_mask = 0xffff00,
		.actions = EGPUHP_QUIRK_NO_PM_RESET,
		.source = EGPUHP_QUIRK_SRC_BUILTIN,
		.note = "AMD/ATI VGA: PM reset has no effect (kernel quirk_no_pm_reset)",
	},
	/*
	 * AMD Navi 10: "bus resets still cause navi to flake out" - the
	 * Navi 10 reset quirk posted to linux-pci by Geoffrey McRae
	 * ("quirk: AMD Navi 10 series vendor specific reset", Nov 2019) sets
	 * PCI_DEV_FLAGS_NO_BUS_RESET for these IDs; the same IDs are the
	 * Navi 10 list of gnif/vendor-reset (src/device-db.h, _AMD_NAVI10).
	 */
	NAVI10(0x7310), NAVI10(0x7312), NAVI10(0x7318), NAVI10(0x7319),
	NAVI10(0x731a), NAVI10(0x731b), NAVI10(0x731e), NAVI10(0x731f),
	/*
	 * NVIDIA T4 (10de:1eb8): the GPU does not come back from a secondary
	 * bus reset.  Bug report and patch: "[RFC PATCH] PCI: avoid SBR for
	 * NVIDIA T4", Wu Zongyong, linux-pci, 29 Mar 2023.
	 */
	{
		.vendor = PCI_VENDOR_ID_NVIDIA, .device = 0x1eb8,
		.subsys_vendor = ANY, .subsys_device = ANY,
		.actions = EGPUHP_QUIRK_NO_BUS_RESET,
		.source = EGPUHP_QUIRK_SRC_BUILTIN,
		.note = "NVIDIA T4: no recovery after SBR (linux-pci RFC, Mar 2023)",
	},
	/*
	 * NVIDIA GPUs (display class) behind Thunderbolt/USB4: after D3cold
	 * the GPU does not come back and falls off the bus (Xid 79,
	 * NVIDIA/open-gpu-kernel-modules issue #842, "fallen off the bus"
	 * after reconnect; #894: the driver's own external-GPU detection
	 * misses TB4/USB4 bridges).  The change NVIDIA's maintainers
	 * suggested there, pci_d3cold_disable() on external GPUs (pull
	 * request #1228), stopped the Xid 79s.  Only external ones: an
	 * internal GPU's D3cold (laptop dGPU power saving) works and matters.
	 */
	{
		.vendor = PCI_VENDOR_ID_NVIDIA, .device = ANY,
		.subsys_vendor = ANY, .subsys_device = ANY,
		.class = PCI_BASE_CLASS_DISPLAY << 16, .class_mask = 0xff0000,
		.match_flags = EGPUHP_QUIRK_MATCH_EXTERNAL,
		.actions = EGPUHP_QUIRK_NO_D3COLD,
		.source = EGPUHP_QUIRK_SRC_BUILTIN,
		.note = "NVIDIA eGPU: Xid 79 after D3cold (open-gpu-kernel-modules #842, PR #1228)",
	},
};

const unsigned int egpuhp_builtin_quirk_count = ARRAY_SIZE(egpuhp_builtin_quirks);
