/* The slow and rare paths of decode/msgpack's JSON writer (see
 * msgpack_json.h). */
#include "decode/msgpack_json.h"

#include <stdio.h>

void sm_jsonw_put_slow(struct sm_jsonw *w, const char *s, size_t n)
{
	if (w->full)
		return;
	if (w->level == 0) {
		if (n > w->cap - w->len) {
			set_full(w);
			return;
		}
		if (w->len < w->keep) {
			size_t k = w->keep - w->len;
			memcpy(w->out + w->len, s, n < k ? n : k);
		}
		w->len += n;
		return;
	}
	/* Beyond 2^20 backslashes per quote any budget we accept is exceeded. */
	size_t extra = w->level >= 20 ? SIZE_MAX : ((size_t)1 << w->level) - 1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			if (extra >= w->cap - w->len) {
				set_full(w);
				return;
			}
			for (size_t e = 0; e < extra; e++)
				store(w, '\\');
		}
		if (w->len >= w->cap) {
			set_full(w);
			return;
		}
		store(w, s[i]);
	}
}

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sm_jsonw_put_base64(struct sm_jsonw *w, const uint8_t *p, size_t n)
{
	putc1(w, '"');
	char q[4];
	size_t i = 0;
	for (; i + 3 <= n && !w->full; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = b64tab[v >> 18];
		q[1] = b64tab[(v >> 12) & 63];
		q[2] = b64tab[(v >> 6) & 63];
		q[3] = b64tab[v & 63];
		put(w, q, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		q[0] = b64tab[v >> 18];
		q[1] = b64tab[(v >> 12) & 63];
		q[2] = q[3] = '=';
		put(w, q, 4);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		q[0] = b64tab[v >> 18];
		q[1] = b64tab[(v >> 12) & 63];
		q[2] = b64tab[(v >> 6) & 63];
		q[3] = '=';
		put(w, q, 4);
	}
	putc1(w, '"');
}

/* Howard Hinnant's civil_from_days, valid for the whole int64 day range we
 * reach (|sec| / 86400). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	uint64_t doe = (uint64_t)(z - era * 146097);
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yy + (*m <= 2);
}

static void put_timestamp(struct sm_jsonw *w, int64_t sec, uint32_t nsec)
{
	/* Days and second-of-day with floor division. */
	int64_t days = sec / 86400, sod = sec % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t y;
	unsigned mo, d;
	civil_from_days(days, &y, &mo, &d);
	char b[64];
	int k;
	if (y < 0 || y > 9999) {
		k = snprintf(b, sizeof(b), "{\"ext\":-1,\"sec\":%lld,\"nsec\":%u}", (long long)sec,
		             nsec);
		put(w, b, (size_t)k);
		return;
	}
	k = snprintf(b, sizeof(b), "\"%04d-%02u-%02uT%02u:%02u:%02u", (int)y, mo, d,
	             (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60));
	if (nsec) {
		char f[16];
		snprintf(f, sizeof(f), ".%09u", nsec);
		size_t fl = strlen(f);
		while (f[fl - 1] == '0')
			fl--;
		f[fl] = 0;
		k += snprintf(b + k, sizeof(b) - (size_t)k, "%s", f);
	}
	k += snprintf(b + k, sizeof(b) - (size_t)k, "Z\"");
	put(w, b, (size_t)k);
}

/* Renders ext type/data; returns false for a malformed timestamp. */
bool sm_jsonw_put_ext(struct sm_jsonw *w, int8_t type, const uint8_t *p, size_t n)
{
	if (type == -1) {
		if (n == 4) {
			put_timestamp(w, (int64_t)be(p, 4), 0);
			return true;
		}
		if (n == 8) {
			uint64_t v = be(p, 8);
			uint32_t nsec = (uint32_t)(v >> 34);
			if (nsec > 999999999u)
				return false;
			put_timestamp(w, (int64_t)(v & 0x3ffffffffull), nsec);
			return true;
		}
		if (n == 12) {
			uint32_t nsec = (uint32_t)be(p, 4);
			if (nsec > 999999999u)
				return false;
			put_timestamp(w, (int64_t)be(p + 4, 8), nsec);
			return true;
		}
		return false;
	}
	char b[32];
	int k = snprintf(b, sizeof(b), "{\"ext\":%d,\"data\":", type);
	put(w, b, (size_t)k);
	sm_jsonw_put_base64(w, p, n);
	putc1(w, '}');
	return true;
}
