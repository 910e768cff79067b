/* A log record as a text line or a JSON object. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static const char hex[] = "0123456789abcdef";

/* The names of levels as lines spell them and settings take them. */
static const char *const log_level_names[] = {
    [LOG_LVL_FATAL] = "fatal",
    [LOG_LVL_ERROR] = "error",
    [LOG_LVL_WARN] = "warn",
    [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_DEBUG] = "debug",
};

const char *
log_level_name(int level)
{
	if (level < LOG_LVL_FATAL || level > LOG_LVL_DEBUG)
		return "unknown";
	return log_level_names[level];
}

int
log_level_parse(const char *s)
{
	char *end;
	long n;

	for (int i = LOG_LVL_ERROR; i <= LOG_LVL_DEBUG; i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return i;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return log_level_of_verbosity((unsigned long)n);
}

int
log_level_of_verbosity(unsigned long n)
{
	return n == 0 ? LOG_LVL_NOTICE : n < 3 ? LOG_LVL_INFO : LOG_LVL_DEBUG;
}

int
log_verbosity_of_level(int level)
{
	return level <= LOG_LVL_NOTICE ? 0 : level == LOG_LVL_INFO ? 1 : 3;
}

static const char *const log_category_names[] = {
    [LOG_CAT_GENERAL] = "general",
    [LOG_CAT_ACCESS] = "access",
    [LOG_CAT_SLOW] = "slow",
};

const char *
log_category_name(int category)
{
	if (category < LOG_CAT_GENERAL || category > LOG_CAT_SLOW)
		return "general";
	return log_category_names[category];
}

int
log_category_parse(const char *s)
{
	for (int i = LOG_CAT_GENERAL; i <= LOG_CAT_SLOW; i++)
		if (strcmp(s, log_category_names[i]) == 0)
			return i;
	return -1;
}

/* "2026-11-28T08:53:16.123456Z" into buf (LOG_TIME_LEN + 1 bytes). The
 * date and time part is formatted once per second per thread: gmtime_r
 * and snprintf are the costliest steps of a line. */
#define LOG_TIME_LEN 27
static void
log_format_time(char *buf, const struct timespec *ts)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[48];
	long us = ts->tv_nsec / 1000 % 1000000;

	if (ts->tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts->tv_sec, &tm);
		snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		cached_sec = ts->tv_sec;
	}
	memcpy(buf, cached, 19);
	buf[19] = '.';
	for (int i = 25; i > 19; i--, us /= 10)
		buf[i] = (char)('0' + us % 10);
	buf[26] = 'Z';
	buf[27] = '\0';
}

/* Append s (len bytes) if it fits, keeping room for the line end. */
static size_t
put(char *buf, size_t n, size_t cap, const char *s, size_t len)
{
	if (n + len + 1 >= cap)
		return n;
	memcpy(buf + n, s, len);
	return n + len;
}

size_t
log_format_text(char *buf, size_t cap, const struct log_line *l)
{
	char t[64];
	const char *lv = log_level_name(l->level);
	size_t n = 0, i;

	log_format_time(t, &l->ts);
	n = put(buf, n, cap, t, LOG_TIME_LEN);
	n = put(buf, n, cap, " ", 1);
	n = put(buf, n, cap, l->thread, strlen(l->thread));
	n = put(buf, n, cap, " ", 1);
	n = put(buf, n, cap, lv, strlen(lv));
	n = put(buf, n, cap, " ", 1);
	if (l->category == LOG_CAT_ACCESS)
		n = put(buf, n, cap, "access ", 7);
	else if (l->category == LOG_CAT_SLOW)
		n = put(buf, n, cap, "slow request: ", 14);
	/* Messages may quote client bytes: keep one record per line. */
	for (i = 0; i < l->len && n + 5 < cap; i++) {
		unsigned char c = (unsigned char)l->msg[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			buf[n++] = '\\';
			if (c == '\\') {
				buf[n++] = '\\';
				continue;
			}
			buf[n++] = 'x';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else
			buf[n++] = (char)c;
	}
	buf[n++] = '\n';
	return n;
}

/* Length of the valid UTF-8 sequence at p (at most len bytes), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t len)
{
	unsigned cp;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* Append s as the body of a JSON string: quotes, backslashes and control
 * bytes escaped, each byte of invalid UTF-8 replaced by U+FFFD, so the
 * line is valid JSON whatever a client sent. Returns the new length; stops
 * short of cap - 8. */
static size_t
json_string(char *buf, size_t n, size_t cap, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < len && n + 8 < cap) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(buf + n, "\\u00", 4);
			buf[n + 4] = hex[c >> 4];
			buf[n + 5] = hex[c & 15];
			n += 6;
			i++;
		} else if ((k = utf8_seq(p + i, len - i)) == 0) {
			memcpy(buf + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
		} else {
			memcpy(buf + n, p + i, k);
			n += k;
			i += k;
		}
	}
	return n;
}

static size_t
json_raw(char *buf, size_t n, size_t cap, const char *s)
{
	size_t len = strlen(s);

	if (n + len + 8 >= cap)
		return n;
	memcpy(buf + n, s, len);
	return n + len;
}

/* Inlined in log_format_json, which calls it for every word. */
static inline size_t
field_at(const char *m, size_t len, size_t *klen, size_t *vlen)
{
	size_t i = 0, v;

	while (i < len && ((m[i] >= 'a' && m[i] <= 'z') || m[i] == '_'))
		i++;
	if (i == 0 || i == len || m[i] != '=')
		return 0;
	*klen = i;
	v = ++i;
	while (i < len && m[i] != ' ')
		i++;
	*vlen = i - v;
	return i < len ? i + 1 : i;
}

size_t
log_field(const char *m, size_t len, size_t *klen, size_t *vlen)
{
	return field_at(m, len, klen, vlen);
}

/* A field value that is a plain decimal number is written as a JSON
 * number, but for the fields that name what a client chose: a key "123"
 * is a string. */
static int
is_number(const char *k, size_t klen, const char *s, size_t len)
{
	if (len == 0 || len > 15 || (len > 1 && s[0] == '0'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	/* Asked last: few values are numbers. */
	return !((klen == 3 &&
	             (memcmp(k, "key", 3) == 0 || memcmp(k, "cmd", 3) == 0)) ||
	         (klen == 4 && memcmp(k, "peer", 4) == 0));
}

size_t
log_format_json(char *buf, size_t cap, const struct log_line *l)
{
	char t[64], num[64];
	const char *m = l->msg;
	size_t len = l->len, n = 0, adv, klen, vlen;

	log_format_time(t, &l->ts);
	snprintf(num, sizeof num, "%d", (int)l->tid);
	n = json_raw(buf, n, cap, "{\"ts\":\"");
	n = json_raw(buf, n, cap, t);
	n = json_raw(buf, n, cap, "\",\"level\":\"");
	n = json_raw(buf, n, cap, log_level_name(l->level));
	n = json_raw(buf, n, cap, "\",\"thread\":\"");
	n = json_string(buf, n, cap, l->thread, strlen(l->thread));
	n = json_raw(buf, n, cap, "\",\"tid\":");
	n = json_raw(buf, n, cap, num);
	n = json_raw(buf, n, cap, ",\"category\":\"");
	n = json_raw(buf, n, cap, log_category_name(l->category));
	n = json_raw(buf, n, cap, "\"");
	/* Leading key=value tokens become fields of their own. */
	while ((adv = field_at(m, len, &klen, &vlen)) > 0) {
		/* Never shadow the fixed fields. */
		if (!(klen == 3 && memcmp(m, "msg", 3) == 0) &&
		    !(klen == 2 && memcmp(m, "ts", 2) == 0) &&
		    !(klen == 3 && memcmp(m, "tid", 3) == 0) &&
		    !(klen == 5 && memcmp(m, "level", 5) == 0) &&
		    !(klen == 6 && memcmp(m, "thread", 6) == 0) &&
		    !(klen == 8 && memcmp(m, "category", 8) == 0)) {
			n = json_raw(buf, n, cap, ",\"");
			n = json_string(buf, n, cap, m, klen);
			n = json_raw(buf, n, cap, "\":");
			if (is_number(m, klen, m + klen + 1, vlen))
				n = json_string(
				    buf, n, cap, m + klen + 1, vlen);
			else {
				n = json_raw(buf, n, cap, "\"");
				n = json_string(
				    buf, n, cap, m + klen + 1, vlen);
				n = json_raw(buf, n, cap, "\"");
			}
		}
		m += adv;
		len -= adv;
	}
	/* A line of fields alone has no message to say. */
	if (len > 0) {
		n = json_raw(buf, n, cap, ",\"msg\":\"");
		n = json_string(buf, n, cap, m, len);
		n = json_raw(buf, n, cap, "\"");
	}
	/* Room for the closing bytes is always kept by the helpers. */
	memcpy(buf + n, "}\n", 2);
	return n + 2;
}
