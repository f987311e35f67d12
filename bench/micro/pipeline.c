/* Micro-benchmark of one observed body through the decode pipeline, with the
 * configuration soth-mitm's observers use (standalone, not part of the build).
 *
 *   cmake --build --preset release
 *   cc -O2 -I. bench/micro/pipeline.c build/release/libsoth.a -lz -ldeflate -lbrotlidec \
 *      -lzstd -lm -o /tmp/micro_pipeline
 *   /tmp/micro_pipeline BODY CONTENT-TYPE [REPS [CONTENT-ENCODING [whole]]]
 *
 * BODY: a file holding one response body, e.g. the parsers lane's /sse,
 * /msgpack or json.gz (bench/lanes --keep leaves them in its work directory,
 * www/); CONTENT-ENCODING e.g. gzip for json.gz ("" for none). By default
 * bodies are decoded as far as the excerpt needs (the observers' default);
 * "whole" decodes them to the end (observe.whole_bodies=true).
 * Prints CPU microseconds per body (pipeline created, fed in 16 KiB pieces,
 * finished, freed; events counted, not formatted): the best of 9 batches of
 * REPS bodies (default 1000), since other programs share the machine. Under
 * `valgrind --tool=callgrind` with a small REPS it gives instruction counts,
 * which do not depend on the machine's load. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/observe.h"
#include "observe/pipeline.h"

static volatile uint64_t sink;

static void on_event(void *ctx, const struct sm_pipe_event *ev)
{
	(void)ctx;
	sink += ev->length + ev->excerpt_len;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s BODY CONTENT-TYPE [REPS]\n", argv[0]);
		return 2;
	}
	static uint8_t in[1 << 22];
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return 1;
	size_t n = fread(in, 1, sizeof(in), f);
	fclose(f);
	const char *ct = argv[2];
	int reps = argc > 3 ? atoi(argv[3]) : 1000;
	/* core/observe.c's settings with the default configuration */
	uint32_t mm = 1u << 20;
	struct sm_pipe_config pc = {
	        .content = {.max_input = mm, .max_output = mm},
	        .msgpack = {.max_depth = 64, .max_elements = 1u << 16, .max_output = mm},
	        .max_unit = mm,
	        .excerpt = 64,
	        .max_event = mm,
	        .prefix = argc > 5 && !strcmp(argv[5], "whole") ? 0 : SM_OBSERVE_PREFIX,
	};
	const char *ce = argc > 4 && *argv[4] ? argv[4] : NULL;
	struct sm_pipe_headers ph = {.content_type = ct,
	                             .content_type_len = strlen(ct),
	                             .content_encoding = ce,
	                             .content_encoding_len = ce ? strlen(ce) : 0,
	                             .transfer_removed = true};
	double best = 1e9;
	for (int b = 0; b < 9; b++) {
		double t = cpu_s();
		for (int r = 0; r < reps; r++) {
			struct sm_pipe *p = sm_pipe_new(&pc, &ph, on_event, NULL);
			if (!p)
				return 1;
			for (size_t o = 0; o < n; o += 16384)
				sm_pipe_feed(p, in + o, n - o < 16384 ? n - o : 16384);
			sm_pipe_finish(p);
			sm_pipe_free(p);
		}
		double dt = cpu_s() - t;
		if (dt < best)
			best = dt;
	}
	printf("%s (%zu B, %s): %.2f us/body, %.0f MB/s\n", argv[1], n, ct, best / reps * 1e6,
	       (double)n * reps / best / 1e6);
	return 0;
}
