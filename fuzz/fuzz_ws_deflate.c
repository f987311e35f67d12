/* libFuzzer target for proto/ws_deflate: any Sec-WebSocket-Extensions value
 * parses without reading past its length; the result is consistent (window
 * bits 8..15, inflate only when on) and the same when the value is followed
 * by other bytes in memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *v = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
	if (!v)
		return 0;
	if (n)
		memcpy(v, d, n);
	struct sm_ws_deflate_params a, b;
	bool on = sm_ws_deflate_parse(v, n, &a);
	if (on != a.on || (a.inflate && !a.on))
		abort();
	for (int k = 0; k < 2; k++)
		if (a.window_bits[k] < 8 || a.window_bits[k] > 15)
			abort();
	char *w = malloc(n + 8);
	if (w) {
		if (n)
			memcpy(w, d, n);
		memcpy(w + n, ";x=\"\\,junk", 8);
		sm_ws_deflate_parse(w, n, &b);
		if (memcmp(&a, &b, sizeof(a)) != 0)
			abort();
		free(w);
	}
	free(v);
	return 0;
}
