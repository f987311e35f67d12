/* permessage-deflate response parameters (see ws_deflate.h). */
#include "proto/ws_deflate.h"

#include <string.h>
#include <strings.h>

struct cur {
	const char *s;
	size_t n, i;
};

static void ows(struct cur *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t'))
		c->i++;
}

static bool tchar(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* A token at the cursor: [*t, *t + *tl). */
static bool token(struct cur *c, const char **t, size_t *tl)
{
	size_t b = c->i;
	while (c->i < c->n && tchar(c->s[c->i]))
		c->i++;
	*t = c->s + b;
	*tl = c->i - b;
	return *tl > 0;
}

/* A token or quoted string (no escapes needed for the values used here; a
 * backslash pair is skipped). Returns false when malformed. */
static bool value(struct cur *c, const char **v, size_t *vl)
{
	if (c->i < c->n && c->s[c->i] == '"') {
		size_t b = ++c->i;
		while (c->i < c->n && c->s[c->i] != '"')
			c->i += c->s[c->i] == '\\' ? 2 : 1;
		if (c->i >= c->n)
			return false;
		*v = c->s + b;
		*vl = c->i - b;
		c->i++;
		return true;
	}
	return token(c, v, vl);
}

static bool is(const char *t, size_t tl, const char *want)
{
	return strlen(want) == tl && strncasecmp(t, want, tl) == 0;
}

/* "8".."15" */
static int bits(const char *v, size_t vl)
{
	if (vl < 1 || vl > 2 || v[0] < '0' || v[0] > '9' || (vl == 2 && (v[1] < '0' || v[1] > '9')))
		return -1;
	int b = vl == 1 ? v[0] - '0' : (v[0] - '0') * 10 + (v[1] - '0');
	return b >= 8 && b <= 15 ? b : -1;
}

/* Skips to just after the next ',' outside quotes (or the end). */
static void next_element(struct cur *c)
{
	bool q = false;
	while (c->i < c->n) {
		char ch = c->s[c->i++];
		if (ch == '"')
			q = !q;
		else if (ch == '\\' && q)
			c->i++;
		else if (ch == ',' && !q)
			return;
	}
}

bool sm_ws_deflate_parse(const char *v, size_t n, struct sm_ws_deflate_params *out)
{
	*out = (struct sm_ws_deflate_params){.window_bits = {15, 15}};
	struct cur c = {v, v ? n : 0, 0};
	while (c.i < c.n) {
		ows(&c);
		const char *t;
		size_t tl;
		if (!token(&c, &t, &tl) || !is(t, tl, "permessage-deflate")) {
			next_element(&c);
			continue;
		}
		out->on = true;
		bool ok = true;
		unsigned seen = 0;
		ows(&c);
		while (ok && c.i < c.n && c.s[c.i] == ';') {
			c.i++;
			ows(&c);
			const char *pv = NULL;
			size_t pvl = 0;
			if (!token(&c, &t, &tl)) {
				ok = false;
				break;
			}
			ows(&c);
			bool has_val = c.i < c.n && c.s[c.i] == '=';
			if (has_val) {
				c.i++;
				ows(&c);
				if (!value(&c, &pv, &pvl)) {
					ok = false;
					break;
				}
				ows(&c);
			}
			static const char *const names[] = {
			        "server_no_context_takeover", "client_no_context_takeover",
			        "server_max_window_bits", "client_max_window_bits"};
			int k = -1;
			for (int j = 0; j < 4; j++)
				if (is(t, tl, names[j]))
					k = j;
			if (k < 0 || (seen & (1u << k))) {
				ok = false;
				break;
			}
			seen |= 1u << k;
			int dir = k == 0 || k == 2 ? 1 : 0;
			if (k < 2) {
				ok = !has_val;
				out->no_context_takeover[dir] = true;
			} else if (has_val) {
				int b = bits(pv, pvl);
				ok = b > 0;
				out->window_bits[dir] = (uint8_t)(b > 0 ? b : 15);
			} else {
				ok = k == 3; /* only client_max_window_bits may come bare */
			}
		}
		if (ok && c.i < c.n && c.s[c.i] != ',')
			ok = false; /* junk after the parameters */
		out->inflate = ok;
		return true;
	}
	return false;
}
