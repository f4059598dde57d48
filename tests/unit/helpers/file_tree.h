/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fake sysfs trees for the unit tests: a directory of plain files.
 * file_tree_put() writes "VAL\n" to ROOT/REL, making the directories on
 * the way.  Include after <cmocka.h>.
 */
#ifndef EGPU_TEST_FILE_TREE_H
#define EGPU_TEST_FILE_TREE_H

#include <stdio.h>
#include <stdlib.h>

static inline void file_tree_put(const char *root, const char *rel, const char *val)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", val);
	fclose(f);
}

/* Under sys_root: Thunderbolt domain0 in "user" security, no IOMMU DMA protection, host router 0-0. */
static inline void file_tree_tb_domain(const char *sys_root)
{
	file_tree_put(sys_root, "bus/thunderbolt/devices/domain0/security", "user");
	file_tree_put(sys_root, "bus/thunderbolt/devices/domain0/iommu_dma_protection", "0");
	file_tree_put(sys_root, "bus/thunderbolt/devices/0-0/unique_id", "host");
	file_tree_put(sys_root, "bus/thunderbolt/devices/0-0/authorized", "1");
}

#endif /* EGPU_TEST_FILE_TREE_H */
