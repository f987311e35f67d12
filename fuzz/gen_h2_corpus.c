/* Writes the seed corpus of fuzz_h2 (fuzz/corpus/h2/): real exchanges
 * between an nghttp2 client and server in memory, the client's bytes and
 * the server's bytes laid out as fuzz_h2 reads them. Not part of the build:
 *   cc -o /tmp/gen fuzz/gen_h2_corpus.c -lnghttp2 && /tmp/gen fuzz/corpus/h2 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t cbuf[1 << 16], ubuf[1 << 16];
static size_t clen, ulen;
static int scenario;

static ssize_t rd(nghttp2_session *s, int32_t id, uint8_t *b, size_t len, uint32_t *fl,
                  nghttp2_data_source *src, void *ud)
{
	size_t n = len < 300 ? len : 300;
	memset(b, 'b', n);
	*fl |= NGHTTP2_DATA_FLAG_EOF;
	if (scenario == 2) {
		nghttp2_nv t = {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0};
		*fl |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_submit_trailer(s, id, &t, 1);
	}
	return (ssize_t)n;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	if (!ud || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
		return 0;
	nghttp2_nv nv[2] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
	                    {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, 0}};
	nghttp2_data_provider p = {.read_callback = rd};
	if (scenario == 3)
		nghttp2_submit_rst_stream(s, 0, f->hd.stream_id, NGHTTP2_CANCEL);
	else
		nghttp2_submit_response(s, f->hd.stream_id, nv, 2, &p);
	if (scenario == 4)
		nghttp2_submit_goaway(s, 0, f->hd.stream_id, 0, NULL, 0);
	return 0;
}

static void pump(nghttp2_session *c, nghttp2_session *u)
{
	for (int i = 0; i < 20; i++) {
		const uint8_t *d;
		ssize_t n;
		while ((n = nghttp2_session_mem_send(c, &d)) > 0) {
			if (clen + (size_t)n <= sizeof(cbuf)) {
				memcpy(cbuf + clen, d, (size_t)n);
				clen += (size_t)n;
			}
			nghttp2_session_mem_recv(u, d, (size_t)n);
		}
		while ((n = nghttp2_session_mem_send(u, &d)) > 0) {
			if (ulen + (size_t)n <= sizeof(ubuf)) {
				memcpy(ubuf + ulen, d, (size_t)n);
				ulen += (size_t)n;
			}
			nghttp2_session_mem_recv(c, d, (size_t)n);
		}
	}
}

int main(int argc, char **argv)
{
	const char *names[] = {"get", "post", "trailers", "rst", "goaway", "many"};
	for (scenario = 0; scenario < 6; scenario++) {
		clen = ulen = 0;
		nghttp2_session_callbacks *cb;
		nghttp2_session_callbacks_new(&cb);
		nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
		nghttp2_session *c, *u;
		nghttp2_session_client_new(&c, cb, NULL);
		nghttp2_session_server_new(&u, cb, (void *)1);
		nghttp2_submit_settings(c, 0, NULL, 0);
		nghttp2_submit_settings(u, 0, NULL, 0);
		int n = scenario == 5 ? 5 : 1;
		for (int i = 0; i < n; i++) {
			nghttp2_nv nv[5] = {
			        {(uint8_t *)":method",
			         (uint8_t *)(scenario == 1 || scenario == 2 ? "POST" : "GET"), 7,
			         scenario == 1 || scenario == 2 ? 4 : 3, 0},
			        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
			        {(uint8_t *)":authority", (uint8_t *)"example.com", 10, 11, 0},
			        {(uint8_t *)":path", (uint8_t *)"/a?b=c", 5, 6, 0},
			        {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0},
			};
			nghttp2_data_provider p = {.read_callback = rd};
			nghttp2_submit_request(c, NULL, nv, 5,
			                       scenario == 1 || scenario == 2 ? &p : NULL, NULL);
		}
		pump(c, u);
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", argc > 1 ? argv[1] : ".", names[scenario]);
		FILE *f = fopen(path, "wb");
		if (!f)
			return 1;
		uint8_t hd[3] = {(uint8_t)clen, (uint8_t)(clen >> 8), (uint8_t)(17 + scenario)};
		fwrite(hd, 1, 3, f);
		fwrite(cbuf, 1, clen, f);
		fwrite(ubuf, 1, ulen, f);
		fclose(f);
		nghttp2_session_del(c);
		nghttp2_session_del(u);
		nghttp2_session_callbacks_del(cb);
	}
	return 0;
}
