#include "tls/der.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/result.h"

/* Room reserved for a length while the content is unknown: 0x84 + 4 bytes. */
#define LEN_RESERVE 5

void sm_der_w_init(struct sm_der_w *w, uint8_t *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
}

static size_t len_size(size_t n)
{
	if (n < 0x80)
		return 1;
	if (n <= 0xff)
		return 2;
	if (n <= 0xffff)
		return 3;
	if (n <= 0xffffff)
		return 4;
	return 5;
}

static void put_len(uint8_t *out, size_t n)
{
	size_t sz = len_size(n);
	if (sz == 1) {
		out[0] = (uint8_t)n;
		return;
	}
	out[0] = (uint8_t)(0x80 | (sz - 1));
	for (size_t i = 1; i < sz; i++)
		out[i] = (uint8_t)(n >> (8 * (sz - 1 - i)));
}

static bool room(struct sm_der_w *w, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = true;
		return false;
	}
	return true;
}

void sm_der_begin(struct sm_der_w *w, uint8_t tag)
{
	if (w->depth >= SM_DER_MAX_DEPTH) {
		w->err = true;
		return;
	}
	if (!room(w, 1 + LEN_RESERVE))
		return;
	w->open[w->depth++] = w->len;
	w->buf[w->len] = tag;
	w->len += 1 + LEN_RESERVE;
}

void sm_der_end(struct sm_der_w *w)
{
	if (w->err)
		return;
	if (w->depth == 0) {
		w->err = true;
		return;
	}
	size_t at = w->open[--w->depth];
	size_t content = at + 1 + LEN_RESERVE;
	size_t n = w->len - content;
	size_t ls = len_size(n);
	memmove(w->buf + at + 1 + ls, w->buf + content, n);
	put_len(w->buf + at + 1, n);
	w->len = at + 1 + ls + n;
}

void sm_der_tlv(struct sm_der_w *w, uint8_t tag, const void *content, size_t len)
{
	size_t ls = len_size(len);
	if (!room(w, 1 + ls + len))
		return;
	w->buf[w->len] = tag;
	put_len(w->buf + w->len + 1, len);
	if (len)
		memcpy(w->buf + w->len + 1 + ls, content, len);
	w->len += 1 + ls + len;
}

void sm_der_raw(struct sm_der_w *w, const void *der, size_t len)
{
	if (!room(w, len))
		return;
	if (len)
		memcpy(w->buf + w->len, der, len);
	w->len += len;
}

void sm_der_time(struct sm_der_w *w, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char s[32];
	if (gmtime_r(&tt, &tm) == NULL) {
		w->err = true;
		return;
	}
	int year = tm.tm_year + 1900;
	int n;
	if (year >= 1950 && year < 2050)
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
		             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1,
		             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n <= 0 || (size_t)n >= sizeof(s)) {
		w->err = true;
		return;
	}
	sm_der_tlv(w, (year >= 1950 && year < 2050) ? SM_DER_UTC_TIME : SM_DER_GEN_TIME, s,
	           (size_t)n);
}

int sm_der_finish(struct sm_der_w *w, size_t *len)
{
	if (w->err)
		return SM_ERR_LIMIT;
	if (w->depth != 0)
		return SM_ERR_STATE;
	*len = w->len;
	return SM_OK;
}

int sm_der_next(struct sm_der_r *r, uint8_t *tag, struct sm_der_r *content, struct sm_der_r *whole)
{
	if (r->left < 2)
		return SM_ERR_INVALID;
	const uint8_t *start = r->p;
	uint8_t t = r->p[0];
	if ((t & 0x1f) == 0x1f)
		return SM_ERR_INVALID; /* multi-byte tags: not in X.509 */
	size_t hdr = 2;
	size_t n = r->p[1];
	if (n & 0x80) {
		size_t ln = n & 0x7f;
		if (ln == 0 || ln > 4 || r->left < 2 + ln)
			return SM_ERR_INVALID;
		n = 0;
		for (size_t i = 0; i < ln; i++)
			n = (n << 8) | r->p[2 + i];
		hdr += ln;
	}
	if (n > r->left - hdr)
		return SM_ERR_INVALID;
	*tag = t;
	if (content) {
		content->p = start + hdr;
		content->left = n;
	}
	if (whole) {
		whole->p = start;
		whole->left = hdr + n;
	}
	r->p += hdr + n;
	r->left -= hdr + n;
	return SM_OK;
}

static int digits(const uint8_t *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

int sm_der_parse_time(uint8_t tag, const struct sm_der_r *c, int64_t *out)
{
	const uint8_t *p = c->p;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int year;
	if (tag == SM_DER_UTC_TIME && c->left == 13) {
		year = digits(p, 2);
		if (year < 0)
			return SM_ERR_INVALID;
		year += year < 50 ? 2000 : 1900;
		p += 2;
	} else if (tag == SM_DER_GEN_TIME && c->left == 15) {
		year = digits(p, 4);
		p += 4;
	} else {
		return SM_ERR_INVALID;
	}
	int mon = digits(p, 2), day = digits(p + 2, 2), hh = digits(p + 4, 2);
	int mm = digits(p + 6, 2), ss = digits(p + 8, 2);
	if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 ||
	    mm > 59 || ss < 0 || ss > 60 || p[10] != 'Z')
		return SM_ERR_INVALID;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*out = (int64_t)timegm(&tm);
	return SM_OK;
}
