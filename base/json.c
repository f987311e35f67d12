#include "base/json.h"

#include <string.h>

size_t sm_utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint8_t lo = 0x80,
	        hi = 0xbf; /* the second byte's range excludes overlongs and surrogates */
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t sm_utf8_cut(const uint8_t *p, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t i = 0;
	while (i < max) {
		size_t k = sm_utf8_seq(p + i, n - i);
		if (k == 0)
			k = 1;
		if (i + k > max)
			break;
		i += k;
	}
	return i;
}

size_t sm_json_run(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x80) {
			if (c == '"' || c == '\\')
				break;
			i++;
			continue;
		}
		if (c < 0x20)
			break;
		size_t k = sm_utf8_seq(p + i, n - i);
		if (k == 0)
			break;
		i += k;
	}
	return i;
}

size_t sm_json_escape1(uint8_t c, char esc[6])
{
	static const char hex[] = "0123456789abcdef";
	esc[0] = '\\';
	switch (c) {
	case '"': esc[1] = '"'; return 2;
	case '\\': esc[1] = '\\'; return 2;
	case '\b': esc[1] = 'b'; return 2;
	case '\f': esc[1] = 'f'; return 2;
	case '\n': esc[1] = 'n'; return 2;
	case '\r': esc[1] = 'r'; return 2;
	case '\t': esc[1] = 't'; return 2;
	default: break;
	}
	if (c < 0x20) {
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		return 6;
	}
	memcpy(esc, "\\ufffd", 6); /* a byte of an invalid UTF-8 sequence */
	return 6;
}

char *sm_json_str(char *o, const uint8_t *p, size_t n)
{
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t k = sm_json_run(p + i, n - i);
		memcpy(o, p + i, k);
		o += k;
		i += k;
		if (i < n)
			o += sm_json_escape1(p[i++], o);
	}
	*o++ = '"';
	return o;
}
