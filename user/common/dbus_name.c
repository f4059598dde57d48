// SPDX-License-Identifier: GPL-2.0
/*
 * A D-Bus client of one call at a time: little-endian messages to the bus
 * daemon itself, method returns matched by reply serial, signals (such as
 * NameAcquired after Hello) skipped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "common/dbus_name.h"
#include "common/fd_io.h"

#define MSG_MAX		4096
#define T_METHOD_CALL	1
#define T_METHOD_RETURN	2
#define T_ERROR		3
#define F_PATH		1
#define F_INTERFACE	2
#define F_MEMBER	3
#define F_REPLY_SERIAL	5
#define F_DESTINATION	6
#define F_SIGNATURE	8

struct wbuf {
	unsigned char b[MSG_MAX];
	size_t n;
	bool bad;
};

static void w_pad(struct wbuf *w, size_t align)
{
	while (w->n % align && w->n < sizeof(w->b))
		w->b[w->n++] = 0;
}

static void w_bytes(struct wbuf *w, const void *p, size_t len)
{
	if (w->n + len > sizeof(w->b)) {
		w->bad = true;
		return;
	}
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void w_u8(struct wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	unsigned char le[4] = { v, v >> 8, v >> 16, v >> 24 };

	w_pad(w, 4);
	w_bytes(w, le, 4);
}

static void w_str(struct wbuf *w, const char *s)
{
	w_u32(w, (uint32_t)strlen(s));
	w_bytes(w, s, strlen(s) + 1);
}

static void w_sig(struct wbuf *w, const char *s)
{
	w_u8(w, (uint8_t)strlen(s));
	w_bytes(w, s, strlen(s) + 1);
}

/* One header field: (code, variant of type t). */
static void w_field(struct wbuf *w, uint8_t code, char t, const char *s)
{
	char sig[2] = { t, '\0' };

	w_pad(w, 8);
	w_u8(w, code);
	w_sig(w, sig);
	if (t == 'g')
		w_sig(w, s);
	else
		w_str(w, s);
}

static uint32_t get_u32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One line of the authentication exchange, "\r\n" stripped. */
static int recv_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		int ret = egpu_read_all(fd, buf + n, 1);

		if (ret < 0)
			return ret;
		if (buf[n] == '\n') {
			buf[n && buf[n - 1] == '\r' ? n - 1 : n] = '\0';
			return 0;
		}
		n++;
	}
	return -EPROTO;
}

static uint32_t next_serial(void)
{
	static uint32_t serial;

	return ++serial ? serial : ++serial;
}

static int send_call(int fd, const char *member, const char *str_arg,
		     const uint32_t *u32_arg, uint32_t *serial)
{
	struct wbuf w = { .n = 0 };
	char sig[3] = "";
	size_t body_at, fields_at;
	uint32_t body_len;

	if (str_arg)
		strcat(sig, "s");
	if (u32_arg)
		strcat(sig, "u");
	*serial = next_serial();
	w_u8(&w, 'l');
	w_u8(&w, T_METHOD_CALL);
	w_u8(&w, 0);
	w_u8(&w, 1);
	w_u32(&w, 0);		/* body length, below */
	w_u32(&w, *serial);
	w_u32(&w, 0);		/* header fields' length, below */
	fields_at = w.n;
	w_field(&w, F_PATH, 'o', "/org/freedesktop/DBus");
	w_field(&w, F_INTERFACE, 's', "org.freedesktop.DBus");
	w_field(&w, F_MEMBER, 's', member);
	w_field(&w, F_DESTINATION, 's', "org.freedesktop.DBus");
	if (sig[0])
		w_field(&w, F_SIGNATURE, 'g', sig);
	{
		uint32_t flen = (uint32_t)(w.n - fields_at);
		unsigned char le[4] = { flen, flen >> 8, flen >> 16, flen >> 24 };

		memcpy(w.b + 12, le, 4);
	}
	w_pad(&w, 8);
	body_at = w.n;
	if (str_arg)
		w_str(&w, str_arg);
	if (u32_arg)
		w_u32(&w, *u32_arg);
	if (w.bad)
		return -E2BIG;
	body_len = (uint32_t)(w.n - body_at);
	{
		unsigned char le[4] = { body_len, body_len >> 8, body_len >> 16, body_len >> 24 };

		memcpy(w.b + 4, le, 4);
	}
	return egpu_write_all(fd, w.b, w.n);
}

/* Walk the header fields (bytes 16..end of m), taking REPLY_SERIAL; 0 or -EPROTO. */
static int parse_fields(const unsigned char *m, size_t end, uint32_t *reply_serial)
{
	size_t off = 16;

	*reply_serial = 0;
	while (off < end) {
		uint8_t code, slen;
		char t;

		off = (off + 7) & ~(size_t)7;
		if (off + 3 > end)
			return off >= end ? 0 : -EPROTO;
		code = m[off++];
		slen = m[off++];
		if (slen != 1 || off + 2 > end)
			return -EPROTO;
		t = (char)m[off];
		off += 2;
		switch (t) {
		case 'u':
			off = (off + 3) & ~(size_t)3;
			if (off + 4 > end)
				return -EPROTO;
			if (code == F_REPLY_SERIAL)
				*reply_serial = get_u32(m + off);
			off += 4;
			break;
		case 's':
		case 'o': {
			uint32_t len;

			off = (off + 3) & ~(size_t)3;
			if (off + 4 > end)
				return -EPROTO;
			len = get_u32(m + off);
			if (len > end - off - 4 || off + 4 + len + 1 > end)
				return -EPROTO;
			off += 4 + len + 1;
			break;
		}
		case 'g':
			if (off + 1 > end || off + 1 + m[off] + 1 > end)
				return -EPROTO;
			off += 1 + m[off] + 1;
			break;
		default:
			return -EPROTO;
		}
	}
	return 0;
}

/* Read messages until the reply to serial; its first uint32 into *reply. */
static int read_reply(int fd, uint32_t serial, uint32_t *reply)
{
	for (;;) {
		unsigned char m[MSG_MAX];
		uint32_t body_len, fields_len, got_serial;
		size_t total, body_at;
		int ret;

		ret = egpu_read_all(fd, m, 16);
		if (ret < 0)
			return ret;
		if (m[0] != 'l' || m[3] != 1)
			return -EPROTO;	/* we never ask for big-endian; the bus answers in ours */
		body_len = get_u32(m + 4);
		fields_len = get_u32(m + 12);
		if (fields_len > MSG_MAX || body_len > MSG_MAX)
			return -EPROTO;
		body_at = (16 + (size_t)fields_len + 7) & ~(size_t)7;
		total = body_at + body_len;
		if (total > sizeof(m))
			return -EPROTO;
		ret = egpu_read_all(fd, m + 16, total - 16);
		if (ret < 0)
			return ret;
		ret = parse_fields(m, 16 + (size_t)fields_len, &got_serial);
		if (ret < 0)
			return ret;
		if ((m[1] != T_METHOD_RETURN && m[1] != T_ERROR) || got_serial != serial)
			continue;	/* a signal, or not ours */
		if (m[1] == T_ERROR)
			return -EREMOTEIO;
		if (reply)
			*reply = body_len >= 4 ? get_u32(m + body_at) : 0;
		return 0;
	}
}

int egpu_dbus_call_bus(int fd, const char *member, const char *str_arg,
		       const uint32_t *u32_arg, uint32_t *reply)
{
	uint32_t serial;
	int ret = send_call(fd, member, str_arg, u32_arg, &serial);

	return ret < 0 ? ret : read_reply(fd, serial, reply);
}

static const char *bus_path(const char *path)
{
	const char *env = getenv("DBUS_SYSTEM_BUS_ADDRESS");

	if (path)
		return path;
	if (env && !strncmp(env, "unix:path=", 10) && !strchr(env + 10, ','))
		return env + 10;
	return EGPU_DBUS_SYSTEM_BUS;
}

int egpu_dbus_open(const char *path, int timeout_ms)
{
	char line[256], auth[64];
	int fd, ret, n;

	fd = egpu_unix_connect(bus_path(path), timeout_ms);
	if (fd < 0)
		return fd;
	/* EXTERNAL: the bus checks our uid (SO_PEERCRED) against the hex we send */
	n = snprintf(line, sizeof(line), "%u", (unsigned int)geteuid());
	for (ret = 0; ret < n; ret++)
		snprintf(auth + 2 * ret, 3, "%02x", (unsigned char)line[ret]);
	n = snprintf(line, sizeof(line), "%cAUTH EXTERNAL %s\r\n", '\0', auth);
	ret = egpu_write_all(fd, line, (size_t)n);
	if (ret == 0)
		ret = recv_line(fd, line, sizeof(line));
	if (ret == 0 && strncmp(line, "OK ", 3))
		ret = -EACCES;
	if (ret == 0)
		ret = egpu_write_all(fd, "BEGIN\r\n", 7);
	if (ret == 0)
		ret = egpu_dbus_call_bus(fd, "Hello", NULL, NULL, NULL);
	if (ret < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return ret;
}

int egpu_dbus_name_has_owner(const char *path, const char *name, int timeout_ms)
{
	uint32_t owned = 0;
	int fd = egpu_dbus_open(path, timeout_ms), ret;

	if (fd < 0)
		return fd;
	ret = egpu_dbus_call_bus(fd, "NameHasOwner", name, NULL, &owned);
	close(fd);
	return ret < 0 ? ret : owned != 0;
}
