#include "decode/antihijack.h"

#include <string.h>

#include "base/result.h"

struct guard {
	const char *text;
	size_t len;
	bool newline; /* an optional "\n" or "\r\n" after it is stripped too */
};

static const struct guard builtin[] = {
        {")]}'", 4, true},      {")]}',", 5, true}, {"while(1);", 9, false},
        {"for(;;);", 8, false}, {"{}&&", 4, false},
};
#define N_BUILTIN (sizeof(builtin) / sizeof(builtin[0]))

int sm_antihijack_init(struct sm_antihijack *a, const char *const *extra, size_t n_extra)
{
	memset(a, 0, sizeof(*a));
	if (n_extra > SM_ANTIHIJACK_MAX_EXTRA)
		return SM_ERR_INVALID;
	for (size_t i = 0; i < n_extra; i++) {
		size_t len = strlen(extra[i]);
		if (len == 0 || len >= SM_ANTIHIJACK_MAX_PREFIX)
			return SM_ERR_INVALID;
		memcpy(a->extra[i], extra[i], len + 1);
		a->extra_len[i] = len;
	}
	a->n_extra = n_extra;
	return SM_OK;
}

size_t sm_antihijack_window(const struct sm_antihijack *a)
{
	size_t longest = 11; /* "while(1);" + "\r\n" covers every built-in */
	for (size_t i = 0; i < a->n_extra; i++)
		if (a->extra_len[i] > longest)
			longest = a->extra_len[i];
	return SM_ANTIHIJACK_MAX_WS + longest + 1;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Matches guard g at p[0..n). Returns the bytes it covers (> 0), 0 for no
 * match, or -1 when more bytes are needed to decide. */
static long match(const struct guard *g, const uint8_t *p, size_t n, bool final)
{
	size_t k = n < g->len ? n : g->len;
	/* the first byte rejects almost every payload (the pipeline scans
	 * every SSE event and unit) without a memcmp call */
	if (k > 0 && p[0] != (uint8_t)g->text[0])
		return 0;
	if (memcmp(p, g->text, k) != 0)
		return 0;
	if (n < g->len)
		return final ? 0 : -1;
	if (!g->newline)
		return (long)g->len;
	if (n == g->len)
		return final ? (long)g->len : -1;
	if (p[g->len] == '\n')
		return (long)g->len + 1;
	if (p[g->len] == '\r') {
		if (n == g->len + 1)
			return final ? (long)g->len : -1;
		if (p[g->len + 1] == '\n')
			return (long)g->len + 2;
	}
	return (long)g->len;
}

int sm_antihijack_scan(const struct sm_antihijack *a, const uint8_t *p, size_t n, bool final,
                       struct sm_antihijack_match *m)
{
	*m = (struct sm_antihijack_match){.prefix = "", .index = -1};
	size_t i = 0;
	while (i < n && is_ws(p[i])) {
		if (i == SM_ANTIHIJACK_MAX_WS)
			return SM_OK;
		i++;
	}
	if (i == n)
		return final ? SM_OK : SM_AGAIN;

	long best = 0;
	int best_idx = -1;
	bool again = false;
	for (size_t g = 0; g < N_BUILTIN + a->n_extra; g++) {
		struct guard ex;
		const struct guard *gp = &ex;
		if (g < N_BUILTIN) {
			gp = &builtin[g];
		} else {
			ex = (struct guard){a->extra[g - N_BUILTIN], a->extra_len[g - N_BUILTIN],
			                    false};
		}
		long r = match(gp, p + i, n - i, final);
		if (r < 0)
			again = true;
		else if (r > best) {
			best = r;
			best_idx = (int)g;
		}
	}
	if (again)
		return SM_AGAIN;
	if (best_idx >= 0) {
		m->sanitized = true;
		m->strip = i + (size_t)best;
		m->index = best_idx;
		m->prefix = best_idx < (int)N_BUILTIN ? builtin[best_idx].text
		                                      : a->extra[best_idx - (int)N_BUILTIN];
	}
	return SM_OK;
}
