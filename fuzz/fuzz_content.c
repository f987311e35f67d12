/* Content decoders on arbitrary bytes. data[0] picks the coding list and
 * prefix mode, data[1] the write size; the rest is the encoded body. Every
 * decoder must stay within its budget (the prefix, in prefix mode) and
 * return a defined result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "decode/content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const codings[] = {
        "gzip", "deflate", "br", "zstd", "identity", "gzip, br", "deflate, zstd", "x-gzip",
};

struct tally {
	size_t total;
	uint8_t last;
};

static int sink(void *arg, const uint8_t *p, size_t n)
{
	struct tally *t = arg;
	t->total += n;
	t->last ^= p[n - 1]; /* touch the bytes so ASan checks them */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t nc = sizeof(codings) / sizeof(codings[0]);
	const char *h = codings[data[0] % nc];
	size_t prefix = (data[0] / nc) & 1 ? 700 : 0;
	size_t step = (size_t)data[1] * 16 + 1;
	data += 2;
	size -= 2;
	struct sm_content_limits lim = {
	        .max_input = 256 << 10, .max_output = 1 << 20, .prefix = prefix};
	struct tally t = {0};
	struct sm_content c;
	if (sm_content_init(&c, h, strlen(h), &lim, sink, &t) != SM_OK)
		abort();
	int r = SM_OK;
	for (size_t i = 0; i < size && r == SM_OK; i += step)
		r = sm_content_write(&c, data + i, size - i < step ? size - i : step);
	if (r == SM_OK)
		r = sm_content_finish(&c);
	if (r != SM_OK && (c.reason == SM_CONTENT_OK || c.result != r))
		abort();
	if (r == SM_ERR_BOMB && c.reason != SM_CONTENT_BOMB)
		abort();
	/* Stacked decoders: each stage is bounded by the budget. */
	if (t.total > lim.max_output)
		abort();
	bool identity = !strcmp(h, "identity");
	if (prefix && !identity && (t.total > prefix || (c.cut && (t.total != prefix || r))))
		abort();
	if (c.cut && (!prefix || identity))
		abort();
	sm_content_free(&c);
	return 0;
}
