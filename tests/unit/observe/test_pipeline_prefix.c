/* The decode pipeline with cfg.prefix: unframed bodies decoded only as far
 * as their first bytes; framed ones (SSE) untouched. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../decode/codec_helpers.h"
#include "base/result.h"
#include "observe/pipeline.h"

struct seen {
	int payloads, errors;
	struct sm_pipe_event last; /* the last PAYLOAD (excerpt copied) */
	uint8_t excerpt[64];
	char reason[32];
};

static void on_event(void *ctx, const struct sm_pipe_event *ev)
{
	struct seen *s = ctx;
	if (ev->type == SM_PIPE_EV_ERROR) {
		s->errors++;
		snprintf(s->reason, sizeof(s->reason), "%s", ev->reason);
		return;
	}
	s->payloads++;
	s->last = *ev;
	cr_assert_leq(ev->excerpt_len, sizeof(s->excerpt));
	memcpy(s->excerpt, ev->excerpt, ev->excerpt_len);
	s->last.excerpt = s->excerpt;
}

static void run(uint32_t prefix, const char *ct, const char *ce, const uint8_t *b, size_t n,
                size_t step, struct seen *s)
{
	struct sm_pipe_config cfg = {
	        .content = {.max_input = 1 << 20, .max_output = 1 << 20},
	        .msgpack = {.max_depth = 32, .max_elements = 100000, .max_output = 1 << 20},
	        .max_unit = 1 << 20,
	        .excerpt = 48,
	        .max_event = 1 << 20,
	        .prefix = prefix,
	};
	struct sm_pipe_headers h = {.content_type = ct,
	                            .content_type_len = strlen(ct),
	                            .content_encoding = ce,
	                            .content_encoding_len = ce ? strlen(ce) : 0,
	                            .transfer_removed = true};
	memset(s, 0, sizeof(*s));
	struct sm_pipe *p = sm_pipe_new(&cfg, &h, on_event, s);
	cr_assert_not_null(p);
	for (size_t at = 0; at < n; at += step)
		cr_assert_geq(sm_pipe_feed(p, b + at, n - at < step ? n - at : step), 0);
	sm_pipe_finish(p);
	sm_pipe_free(p);
}

/* [0,1,2,...,k-1] as JSON and as msgpack (array32 of positive fixints and
 * uint16s). */
static char *json_array(int k, size_t *n)
{
	char *j = malloc((size_t)k * 8 + 4);
	size_t o = 0;
	j[o++] = '[';
	for (int i = 0; i < k; i++)
		o += (size_t)sprintf(j + o, i ? ",%d" : "%d", i);
	j[o++] = ']';
	j[o] = 0;
	*n = o;
	return j;
}

static uint8_t *msgpack_array(int k, size_t *n)
{
	uint8_t *m = malloc((size_t)k * 3 + 5);
	size_t o = 0;
	m[o++] = 0xdd;
	for (int s = 24; s >= 0; s -= 8)
		m[o++] = (uint8_t)((unsigned)k >> s);
	for (int i = 0; i < k; i++) {
		if (i < 128) {
			m[o++] = (uint8_t)i;
		} else {
			m[o++] = 0xcd;
			m[o++] = (uint8_t)(i >> 8);
			m[o++] = (uint8_t)i;
		}
	}
	*n = o;
	return m;
}

Test(pipeline_prefix, gzip_json_is_decoded_only_as_far_as_the_prefix)
{
	size_t jn, gn;
	char *js = json_array(5000, &jn);
	uint8_t *gz = tc_encode("gzip", (const uint8_t *)js, jn, &gn);
	static const size_t steps[] = {1, 100, 1024, 1 << 20};
	struct seen s;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run(1024, "application/json", "gzip", gz, gn, steps[i], &s);
		cr_assert_eq(s.payloads, 1);
		cr_assert_eq(s.errors, 0);
		cr_assert_eq(s.last.kind, SM_PIPE_KIND_JSON);
		cr_assert(s.last.partial, "step %zu", steps[i]);
		/* JSON needs the excerpt and the guard window, no more */
		cr_assert(s.last.length >= 48 && s.last.length < 1024, "%llu",
		          (unsigned long long)s.last.length);
		cr_assert(s.last.excerpt_len == 48 && !memcmp(s.excerpt, js, 48));
	}
	/* prefix 0: the whole body, its exact length */
	run(0, "application/json", "gzip", gz, gn, 100, &s);
	cr_assert(!s.last.partial && s.last.length == jn && s.last.kind == SM_PIPE_KIND_JSON);
	/* damage past the prefix: unseen with a prefix, an error without */
	memset(gz + gn / 2, 0xee, gn - gn / 2);
	run(1024, "application/json", "gzip", gz, gn, 100, &s);
	cr_assert(s.errors == 0 && s.last.partial && !memcmp(s.excerpt, js, 48));
	run(0, "application/json", "gzip", gz, gn, 100, &s);
	cr_assert_eq(s.errors, 1, "%s", s.reason);
	cr_assert_eq(s.last.kind, SM_PIPE_KIND_RAW);
	free(gz);
	free(js);
}

Test(pipeline_prefix, unencoded_json_keeps_its_exact_length)
{
	size_t jn;
	char *js = json_array(5000, &jn);
	struct seen s;
	run(1024, "application/json", NULL, (const uint8_t *)js, jn, 333, &s);
	cr_assert(s.payloads == 1 && s.last.kind == SM_PIPE_KIND_JSON && !s.last.partial);
	cr_assert_eq(s.last.length, jn);
	cr_assert(!memcmp(s.excerpt, js, 48));
	free(js);
}

Test(pipeline_prefix, msgpack_is_rendered_as_far_as_the_prefix_goes)
{
	size_t mn, jn;
	uint8_t *mp = msgpack_array(3000, &mn);
	char *js = json_array(3000, &jn);
	struct seen s;
	for (size_t step = 1; step <= 4096; step *= 8) {
		run(1024, "application/msgpack", NULL, mp, mn, step, &s);
		cr_assert_eq(s.errors, 0, "%s", s.reason);
		cr_assert(s.payloads == 1 && s.last.kind == SM_PIPE_KIND_MSGPACK);
		cr_assert(s.last.partial);
		cr_assert(s.last.excerpt_len == 48 && !memcmp(s.excerpt, js, 48),
		          "step %zu: len %llu ex %zu %.*s", step, (unsigned long long)s.last.length,
		          s.last.excerpt_len, (int)s.last.excerpt_len, s.excerpt);
	}
	/* without a prefix: converted whole, the JSON's exact length */
	run(0, "application/msgpack", NULL, mp, mn, 4096, &s);
	cr_assert(s.last.kind == SM_PIPE_KIND_MSGPACK && !s.last.partial && s.last.length == jn,
	          "kind %d partial %d length %llu of %zu, %s", s.last.kind, s.last.partial,
	          (unsigned long long)s.last.length, jn, s.reason);
	/* a value that fits the prefix: exact either way */
	free(mp);
	mp = msgpack_array(100, &mn);
	free(js);
	js = json_array(100, &jn);
	run(1024, "application/msgpack", NULL, mp, mn, 7, &s);
	cr_assert(s.last.kind == SM_PIPE_KIND_MSGPACK && !s.last.partial && s.last.length == jn);
	/* broken inside the prefix: still an error, reported raw */
	mp[10] = 0xc1;
	run(1024, "application/msgpack", NULL, mp, mn, 7, &s);
	cr_assert(s.errors == 1 && !strcmp(s.reason, "bad_type"));
	cr_assert_eq(s.last.kind, SM_PIPE_KIND_RAW);
	free(mp);
	free(js);
}

static int sse_events;

static void count_sse(void *ctx, const struct sm_pipe_event *ev)
{
	(void)ctx;
	sse_events += ev->type == SM_PIPE_EV_PAYLOAD && !ev->partial;
}

Test(pipeline_prefix, sse_streams_are_not_cut)
{
	char body[8000];
	size_t o = 0;
	for (int i = 0; i < 200; i++)
		o += (size_t)sprintf(body + o, "data: {\"i\":%d}\n\n", i);
	size_t gn;
	uint8_t *gz = tc_encode("gzip", (const uint8_t *)body, o, &gn);
	struct sm_pipe_config cfg = {
	        .content = {.max_input = 1 << 20, .max_output = 1 << 20},
	        .msgpack = {.max_depth = 32, .max_elements = 1000, .max_output = 4096},
	        .max_unit = 4096,
	        .excerpt = 48,
	        .max_event = 4096,
	        .prefix = 256,
	};
	struct sm_pipe_headers h = {.content_type = "text/event-stream",
	                            .content_type_len = 17,
	                            .content_encoding = "gzip",
	                            .content_encoding_len = 4,
	                            .transfer_removed = true};
	sse_events = 0;
	struct sm_pipe *p = sm_pipe_new(&cfg, &h, count_sse, NULL);
	cr_assert_not_null(p);
	cr_assert_eq(sm_pipe_feed(p, gz, gn), (long)gn);
	cr_assert_eq(sm_pipe_finish(p), SM_OK);
	sm_pipe_free(p);
	cr_assert_eq(sse_events, 200);
	free(gz);
}

Test(pipeline_prefix, a_prefix_below_the_excerpt_is_refused)
{
	struct sm_pipe_config cfg = {
	        .msgpack = {.max_depth = 32, .max_elements = 1000, .max_output = 4096},
	        .max_unit = 4096,
	        .excerpt = 48,
	        .prefix = 47,
	};
	struct sm_pipe_headers h = {.content_type = "application/json", .content_type_len = 16};
	struct seen s;
	cr_assert_null(sm_pipe_new(&cfg, &h, on_event, &s));
}
