/* ClientHello peek: arbitrary bytes, fed whole and in chunks whose sizes
 * come from the input; both runs must agree on every observation.
 * Input byte 0 is control: chunk size (low 7 bits) and a small limit (0x80). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/clienthello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t scratch_a[SM_CLIENTHELLO_MAX_DEFAULT];
static uint8_t scratch_b[SM_CLIENTHELLO_MAX_DEFAULT];

static int same(const struct sm_clienthello *a, const struct sm_clienthello *b)
{
	/* compare the observation part only (scratch pointers differ) */
	size_t off = offsetof(struct sm_clienthello, reason);
	return memcmp((const uint8_t *)a + off, (const uint8_t *)b + off, sizeof(*a) - off) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)(data[0] % 97) + 1;
	/* a smaller limit sometimes, to exercise too_large */
	size_t cap = (data[0] & 0x80) ? 512 : sizeof(scratch_a);
	data++, size--;

	static struct sm_clienthello a, b;
	sm_clienthello_init(&a, scratch_a, cap);
	int ra = sm_clienthello_feed(&a, data, size);
	if (ra == SM_AGAIN)
		ra = sm_clienthello_finish(&a);

	sm_clienthello_init(&b, scratch_b, cap);
	int rb = SM_AGAIN;
	for (size_t i = 0; i < size && rb == SM_AGAIN; i += step) {
		size_t n = size - i < step ? size - i : step;
		rb = sm_clienthello_feed(&b, data + i, n);
	}
	if (rb == SM_AGAIN)
		rb = sm_clienthello_finish(&b);

	if (ra != rb || !same(&a, &b))
		abort();
	if (ra == SM_OK) {
		if (a.sni_len != strlen(a.sni) || a.alpn_count > SM_CLIENTHELLO_ALPN_MAX)
			abort();
		for (unsigned i = 0; i < a.alpn_count; i++) {
			size_t n;
			const uint8_t *p = sm_clienthello_alpn(&a, i, &n);
			if (!p || n == 0)
				abort();
		}
	}
	return 0;
}
