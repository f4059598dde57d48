// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libegpu snapshots: the registered buffers, their pinned host slots and
 * dirty tracking.
 *
 * A buffer is tracked in EGPU_SNAP_CHUNK chunks; each chunk keeps the
 * generation of the first snapshot that follows its last write (marking it
 * dirty stamps it with the set's next generation).  A slot holding
 * generation G whole is brought up to date by copying the chunks stamped
 * after G: so the two slots, one or more generations apart, are each
 * correct after an incremental copy.  A slot that a failed or unfinished
 * snapshot wrote to holds no valid generation (0) and is copied whole next.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libegpu/snap_internal.h"

struct snap_buffer *snap_find(const struct egpu_snap *s, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->nbufs; i++)
		if (!strcmp(s->bufs[i]->name, name))
			return s->bufs[i];
	return NULL;
}

/* A name that can go into egpud's logs and a "key=value" line. */
static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	const unsigned char *p;

	if (n == 0 || n >= EGPU_SNAP_NAME_MAX)
		return false;
	for (p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

void snap_buffer_free(struct egpu_snap *s, struct snap_buffer *b)
{
	bool pushed = snap_ctx_enter_cleanup(s);
	int k;

	for (k = 0; k < 2; k++)
		if (b->slot[k])
			s->cu->mem_free_host(b->slot[k]);
	if (b->owned)
		s->cu->mem_free(b->dptr);
	if (pushed)
		snap_ctx_leave(s);
	free(b->chunk_gen);
	free(b);
}

EGPU_EXPORT int egpu_snap_register(struct egpu_snap *s, const char *name, uint64_t dptr,
				   uint64_t bytes)
{
	struct snap_buffer *b, **grown;
	snap_cures err;
	size_t i;
	int r, k;

	if (!name_ok(name))
		return snap_fail(s, -EINVAL, "bad buffer name");
	if (!dptr || !bytes || bytes > SIZE_MAX / 2)
		return snap_fail(s, -EINVAL, "%s: bad pointer or size", name);
	if (snap_find(s, name))
		return snap_fail(s, -EEXIST, "%s: already registered", name);
	if (s->busy)
		return snap_fail(s, -EBUSY, "a snapshot is in progress");
	if (s->nbufs == s->capbufs) {
		unsigned int cap = s->capbufs ? s->capbufs * 2 : 8;

		grown = realloc(s->bufs, cap * sizeof(*grown));
		if (!grown)
			return snap_fail(s, -ENOMEM, "out of memory");
		s->bufs = grown;
		s->capbufs = cap;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return snap_fail(s, -ENOMEM, "out of memory");
	memcpy(b->name, name, strlen(name) + 1);
	b->dptr = dptr;
	b->bytes = bytes;
	b->complete = -1;
	b->writing = -1;
	b->nchunks = (size_t)((bytes + EGPU_SNAP_CHUNK - 1) / EGPU_SNAP_CHUNK);
	b->chunk_gen = malloc(b->nchunks * sizeof(*b->chunk_gen));
	if (!b->chunk_gen) {
		free(b);
		return snap_fail(s, -ENOMEM, "out of memory");
	}
	for (i = 0; i < b->nchunks; i++)
		b->chunk_gen[i] = s->next_gen;
	r = snap_ctx_enter(s);
	if (r)
		goto fail;
	for (k = 0; k < 2; k++) {
		/* portable: still valid after egpu_snap_set_device() */
		err = s->cu->mem_host_alloc(&b->slot[k], (size_t)bytes,
					    SNAP_CU_MEMHOSTALLOC_PORTABLE);
		if (err) {
			r = snap_fail_cuda(s, "cuMemHostAlloc", err);
			b->slot[k] = NULL;
			snap_ctx_leave(s);
			goto fail;
		}
	}
	snap_ctx_leave(s);
	s->bufs[s->nbufs++] = b;
	return 0;
fail:
	snap_buffer_free(s, b);
	return r;
}

EGPU_EXPORT int egpu_snap_unregister(struct egpu_snap *s, const char *name)
{
	unsigned int i;

	for (i = 0; name && i < s->nbufs; i++) {
		if (strcmp(s->bufs[i]->name, name))
			continue;
		if (s->busy)
			return snap_fail(s, -EBUSY, "a snapshot is in progress");
		snap_buffer_free(s, s->bufs[i]);
		memmove(&s->bufs[i], &s->bufs[i + 1], (s->nbufs - i - 1) * sizeof(s->bufs[0]));
		s->nbufs--;
		return 0;
	}
	return snap_fail(s, -ENOENT, "no buffer \"%s\"", name ? name : "(null)");
}

static void mark(struct egpu_snap *s, struct snap_buffer *b, uint64_t offset, uint64_t len)
{
	size_t c, last = (size_t)((offset + len - 1) / EGPU_SNAP_CHUNK);

	for (c = (size_t)(offset / EGPU_SNAP_CHUNK); c <= last; c++)
		b->chunk_gen[c] = s->next_gen;
}

EGPU_EXPORT int egpu_snap_mark_dirty(struct egpu_snap *s, const char *name, uint64_t offset,
				     uint64_t len)
{
	struct snap_buffer *b;
	unsigned int i;

	if (!name) {
		if (offset || len)
			return snap_fail(s, -EINVAL, "a range needs a buffer name");
		for (i = 0; i < s->nbufs; i++)
			mark(s, s->bufs[i], 0, s->bufs[i]->bytes);
		return 0;
	}
	b = snap_find(s, name);
	if (!b)
		return snap_fail(s, -ENOENT, "no buffer \"%s\"", name);
	if (offset >= b->bytes || (len && len > b->bytes - offset))
		return snap_fail(s, -EINVAL, "%s: range %llu+%llu outside %llu bytes", name,
				 (unsigned long long)offset, (unsigned long long)len,
				 (unsigned long long)b->bytes);
	mark(s, b, offset, len ? len : b->bytes - offset);
	return 0;
}

void snap_buffer_restored(struct egpu_snap *s, struct snap_buffer *b)
{
	uint64_t g = b->slot_gen[b->complete];
	size_t c;

	/* the device is generation g again: what came after it is not on it */
	for (c = 0; c < b->nchunks; c++)
		if (b->chunk_gen[c] > g)
			b->chunk_gen[c] = g;
}

int snap_buffer_copy(struct egpu_snap *s, struct snap_buffer *b, int k, uint64_t *copied)
{
	bool whole = !(s->flags & EGPU_SNAP_EXPLICIT_DIRTY) || !b->slot_gen[k];
	uint64_t held = b->slot_gen[k];
	size_t c = 0;

	*copied = 0;
	if (!b->dptr)
		return snap_fail(s, -ENXIO, "%s: no device memory (restore it first)", b->name);
	/* from now on the slot holds no whole generation until this one completes */
	b->slot_gen[k] = 0;
	while (c < b->nchunks) {
		uint64_t off, len;
		snap_cures err;
		size_t end;

		if (!whole && b->chunk_gen[c] <= held) {
			c++;
			continue;
		}
		/* one copy per run of chunks to copy */
		for (end = c + 1; end < b->nchunks && (whole || b->chunk_gen[end] > held); end++)
			;
		off = (uint64_t)c * EGPU_SNAP_CHUNK;
		len = (uint64_t)end * EGPU_SNAP_CHUNK;
		if (len > b->bytes)
			len = b->bytes;
		len -= off;
		err = s->cu->memcpy_dtoh_async((unsigned char *)b->slot[k] + off, b->dptr + off,
					       (size_t)len, s->stream);
		if (err)
			return snap_fail_cuda(s, "cuMemcpyDtoHAsync", err);
		*copied += len;
		c = end;
	}
	return 0;
}

EGPU_EXPORT const char *egpu_snap_buffer_name(const struct egpu_snap *s, unsigned int index)
{
	return index < s->nbufs ? s->bufs[index]->name : NULL;
}

EGPU_EXPORT uint64_t egpu_snap_buffer_dptr(const struct egpu_snap *s, const char *name)
{
	const struct snap_buffer *b = name ? snap_find(s, name) : NULL;

	return b ? b->dptr : 0;
}

EGPU_EXPORT const void *egpu_snap_host_copy(const struct egpu_snap *s, const char *name,
					    uint64_t *bytes)
{
	const struct snap_buffer *b = name ? snap_find(s, name) : NULL;

	if (!b) {
		errno = ENOENT;
		return NULL;
	}
	if (bytes)
		*bytes = b->bytes;
	if (b->complete < 0) {
		errno = ENODATA;
		return NULL;
	}
	return b->slot[b->complete];
}
