// SPDX-License-Identifier: GPL-2.0
/*
 * The NVIDIA GPUs the driver knows, from its proc files
 * (/proc/driver/nvidia/gpus/<pci>/information: model, UUID, device minor;
 * $EGPUHP_NVIDIA_PROC_DIR instead of /proc/driver/nvidia: the dock's fake
 * driver) and the chip (PCI vendor/device ids) from sysfs.  No driver library is
 * needed, so this works while the GPU is being removed and in unit tests.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/file_read.h"
#include "gpuwork/gw_internal.h"

/* Value of "Key:   value" in an information file, trimmed. */
static bool info_value(const char *text, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	const char *line = text;

	while (line && *line) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			const char *v = line + kl + 1;
			size_t n;

			v += strspn(v, " \t");
			n = strcspn(v, "\n");
			while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
				n--;
			if (n >= len)
				n = len - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return false;
}

static unsigned int sysfs_hex(const char *pci, const char *attr)
{
	char path[512], buf[32];

	if (gw_path(path, sizeof(path), GW_ROOT_SYS, "bus/pci/devices/%s/%s", pci, attr))
		return 0;
	if (egpu_read_small_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	return (unsigned int)strtoul(buf, NULL, 16);
}

static int gpu_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gw_gpu *)a)->pci, ((const struct gw_gpu *)b)->pci);
}

int gw_gpus_load(struct gw_gpus *g)
{
	char dir[256], path[512], text[4096], val[128];
	struct dirent *de;
	DIR *d;

	g->n = 0;
	if (gw_nvidia_path(dir, sizeof(dir), "gpus"))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && g->n < GW_MAX_GPUS) {
		struct gw_gpu *gpu = &g->v[g->n];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/information", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (egpu_read_small_file(path, text, sizeof(text)) <= 0)
			continue;
		memset(gpu, 0, sizeof(*gpu));
		gpu->minor = -1;
		if (!info_value(text, "Bus Location", val, sizeof(val)))
			gw_copy(val, sizeof(val), de->d_name);
		if (gw_pci_normalise(val, gpu->pci, sizeof(gpu->pci)))
			continue;
		if (info_value(text, "GPU UUID", val, sizeof(val)))
			gw_copy(gpu->uuid, sizeof(gpu->uuid), val);
		if (info_value(text, "Model", val, sizeof(val)))
			gw_copy(gpu->model, sizeof(gpu->model), val);
		if (info_value(text, "Device Minor", val, sizeof(val)))
			gpu->minor = atoi(val);
		gpu->vendor = sysfs_hex(gpu->pci, "vendor");
		gpu->device = sysfs_hex(gpu->pci, "device");
		g->n++;
	}
	closedir(d);
	qsort(g->v, g->n, sizeof(g->v[0]), gpu_cmp);
	return 0;
}

const struct gw_gpu *gw_gpus_find(const struct gw_gpus *g, const char *pci_or_uuid)
{
	char pci[GW_PCI_LEN];
	struct gw_uuid want, have;
	bool is_uuid = !gw_uuid_parse(pci_or_uuid, &want);
	bool is_pci = !is_uuid && !gw_pci_normalise(pci_or_uuid, pci, sizeof(pci));
	int i;

	for (i = 0; i < g->n; i++) {
		if (is_pci && !strcmp(g->v[i].pci, pci))
			return &g->v[i];
		if (is_uuid && !gw_uuid_parse(g->v[i].uuid, &have) &&
		    gw_uuid_equal(&want, &have))
			return &g->v[i];
	}
	return NULL;
}

const struct gw_gpu *gw_gpus_by_minor(const struct gw_gpus *g, int minor)
{
	int i;

	for (i = 0; i < g->n; i++)
		if (g->v[i].minor == minor)
			return &g->v[i];
	return NULL;
}

int gw_pick_same_chip(const char *pci, char *out, size_t len)
{
	const struct gw_gpu *src, *best = NULL;
	uint64_t best_free = 0;
	struct gw_gpus *g;
	int i, rc = -ENODEV;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	if (gw_gpus_load(g) || !(src = gw_gpus_find(g, pci))) {
		free(g);
		return -ENODEV;
	}
	for (i = 0; i < g->n; i++) {
		const struct gw_gpu *x = &g->v[i];
		uint64_t free_b = 0, total_b = 0;

		if (x == src || x->vendor != src->vendor || x->device != src->device ||
		    gw_nvml_free_mem(x->pci, &free_b, &total_b))
			continue;
		if (!best || free_b > best_free) {
			best = x;
			best_free = free_b;
		}
	}
	if (best) {
		gw_copy(out, len, best->pci);
		rc = 0;
	}
	free(g);
	return rc;
}
