/* Tables below leave trailing fields zero on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <criterion/criterion.h>
#include <string.h>

#include "proto/hdrcheck.h"

struct fld {
	const char *n, *v;
	size_t vlen; /* 0: strlen(v) */
};

struct mcase {
	const char *what;
	unsigned flags;
	struct fld f[4];
	enum sm_hdrcheck_reason want;
	int framing;
	uint64_t cl;
};

#define R SM_HDRCHECK_REQUEST
static const struct mcase mcases[] = {
        {"plain",
         R,
         {{"Host", "a"}, {"Accept", "*/*"}},
         SM_HDRCHECK_OK,
         SM_HDRCHECK_FRAMING_NONE,
         0},
        {"cl", R, {{"Content-Length", "42"}}, SM_HDRCHECK_OK, SM_HDRCHECK_FRAMING_LENGTH, 42},
        {"cl ows", R, {{"content-length", " \t7 "}}, SM_HDRCHECK_OK, SM_HDRCHECK_FRAMING_LENGTH, 7},
        {"cl zero", 0, {{"Content-Length", "0"}}, SM_HDRCHECK_OK, SM_HDRCHECK_FRAMING_LENGTH, 0},
        {"cl 18 digits",
         0,
         {{"Content-Length", "999999999999999999"}},
         SM_HDRCHECK_OK,
         SM_HDRCHECK_FRAMING_LENGTH,
         999999999999999999ull},
        {"te chunked",
         R,
         {{"Transfer-Encoding", "chunked"}},
         SM_HDRCHECK_OK,
         SM_HDRCHECK_FRAMING_CHUNKED,
         0},
        {"te Chunked ows",
         R,
         {{"Transfer-Encoding", " CHUNKED "}},
         SM_HDRCHECK_OK,
         SM_HDRCHECK_FRAMING_CHUNKED,
         0},
        {"obs-text value", R, {{"X-Name", "caf\xc3\xa9\x80\xff"}}, SM_HDRCHECK_OK, 0, 0},
        {"htab value", R, {{"X", "a\tb"}}, SM_HDRCHECK_OK, 0, 0},
        {"empty value", R, {{"X", ""}}, SM_HDRCHECK_OK, 0, 0},
        {"token chars", R, {{"!#$%&'*+-.^_`|~09azAZ", "v"}}, SM_HDRCHECK_OK, 0, 0},
        {"two hosts in response ok", 0, {{"Host", "a"}, {"Host", "b"}}, SM_HDRCHECK_OK, 0, 0},
        /* smuggling corpus */
        {"cl+te",
         R,
         {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}},
         SM_HDRCHECK_CL_AND_TE},
        {"te+cl",
         R,
         {{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}},
         SM_HDRCHECK_CL_AND_TE},
        {"cl cl differing",
         R,
         {{"Content-Length", "5"}, {"Content-Length", "6"}},
         SM_HDRCHECK_CL_REPEATED},
        {"cl cl identical",
         R,
         {{"Content-Length", "5"}, {"content-length", "5"}},
         SM_HDRCHECK_CL_REPEATED},
        {"cl list differing", R, {{"Content-Length", "1, 2"}}, SM_HDRCHECK_CL_LIST},
        {"cl list identical", R, {{"Content-Length", "5,5"}}, SM_HDRCHECK_CL_LIST},
        {"cl empty", R, {{"Content-Length", ""}}, SM_HDRCHECK_CL_INVALID},
        {"cl sign", R, {{"Content-Length", "+5"}}, SM_HDRCHECK_CL_INVALID},
        {"cl neg", R, {{"Content-Length", "-1"}}, SM_HDRCHECK_CL_INVALID},
        {"cl hex", R, {{"Content-Length", "0x10"}}, SM_HDRCHECK_CL_INVALID},
        {"cl inner space", R, {{"Content-Length", "1 2"}}, SM_HDRCHECK_CL_INVALID},
        {"cl 19 digits", R, {{"Content-Length", "9999999999999999999"}}, SM_HDRCHECK_CL_INVALID},
        {"te gzip", R, {{"Transfer-Encoding", "gzip"}}, SM_HDRCHECK_TE_UNSUPPORTED},
        {"te gzip, chunked",
         R,
         {{"Transfer-Encoding", "gzip, chunked"}},
         SM_HDRCHECK_TE_UNSUPPORTED},
        {"te chunked, gzip",
         R,
         {{"Transfer-Encoding", "chunked, gzip"}},
         SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te chunked twice",
         R,
         {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}},
         SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te chunked,chunked",
         R,
         {{"Transfer-Encoding", "chunked,chunked"}},
         SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te empty", R, {{"Transfer-Encoding", ""}}, SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te empty element", R, {{"Transfer-Encoding", ", chunked"}}, SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te chunked param", R, {{"Transfer-Encoding", "chunked;q=1"}}, SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te junk", R, {{"Transfer-Encoding", "chun ked"}}, SM_HDRCHECK_TE_NOT_CHUNKED},
        {"te xchunked", R, {{"Transfer-Encoding", "xchunked"}}, SM_HDRCHECK_TE_UNSUPPORTED},
        {"te identity", R, {{"Transfer-Encoding", "identity"}}, SM_HDRCHECK_TE_UNSUPPORTED},
        {"te in http/1.0",
         R | SM_HDRCHECK_HTTP10,
         {{"Transfer-Encoding", "chunked"}},
         SM_HDRCHECK_TE_HTTP10},
        {"te in h2", SM_HDRCHECK_HTTP2, {{"transfer-encoding", "chunked"}}, SM_HDRCHECK_TE_HTTP2},
        {"obs-fold", R, {{"X", "a\r\n b"}}, SM_HDRCHECK_OBS_FOLD},
        {"obs-fold lf", R, {{"X", "a\n\tb"}}, SM_HDRCHECK_OBS_FOLD},
        {"bare cr", R, {{"X", "a\rb"}}, SM_HDRCHECK_BARE_CR},
        {"bare cr end", R, {{"X", "a\r"}}, SM_HDRCHECK_BARE_CR},
        {"bare lf", R, {{"X", "a\nb"}}, SM_HDRCHECK_BARE_LF},
        {"crlf inside", R, {{"X", "a\r\nb"}}, SM_HDRCHECK_BARE_LF},
        {"nul", R, {{"X", "a\0b", 3}}, SM_HDRCHECK_VALUE_NUL},
        {"ctl", R, {{"X", "a\x01"}}, SM_HDRCHECK_VALUE_CTL},
        {"del", R, {{"X", "a\x7f"}}, SM_HDRCHECK_VALUE_CTL},
        {"esc", R, {{"X", "\x1b[0m"}}, SM_HDRCHECK_VALUE_CTL},
        {"space before colon", R, {{"Host ", "a"}}, SM_HDRCHECK_NAME_CHAR},
        {"tab before colon", R, {{"Content-Length\t", "5"}}, SM_HDRCHECK_NAME_CHAR},
        {"space in name", R, {{"X Y", "a"}}, SM_HDRCHECK_NAME_CHAR},
        {"colon in name", R, {{"X:Y", "a"}}, SM_HDRCHECK_NAME_CHAR},
        {"at in name", R, {{"X@", "a"}}, SM_HDRCHECK_NAME_CHAR},
        {"paren in name", R, {{"X(", "a"}}, SM_HDRCHECK_NAME_CHAR},
        {"non-ascii name", R, {{"X\xc3\xa9", "a"}}, SM_HDRCHECK_NAME_CHAR},
        {"empty name", R, {{"", "a"}}, SM_HDRCHECK_NAME_EMPTY},
        {"two hosts", R, {{"Host", "a"}, {"host", "a"}}, SM_HDRCHECK_HOST_REPEATED},
        {"sticky first fault",
         R,
         {{"X", "\x01"}, {"Content-Length", "1,2"}},
         SM_HDRCHECK_VALUE_CTL},
};

Test(hdrcheck, message_corpus)
{
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		const struct mcase *c = &mcases[i];
		struct sm_hdrcheck_msg m;
		enum sm_hdrcheck_reason r = SM_HDRCHECK_OK;
		sm_hdrcheck_msg_init(&m, c->flags);
		for (int k = 0; k < 4 && c->f[k].n; k++) {
			size_t vl = c->f[k].vlen ? c->f[k].vlen : strlen(c->f[k].v);
			r = sm_hdrcheck_msg_add(&m, (const uint8_t *)c->f[k].n, strlen(c->f[k].n),
			                        (const uint8_t *)c->f[k].v, vl);
		}
		r = sm_hdrcheck_msg_finish(&m);
		cr_expect_eq(r, c->want, "%s: got %s want %s", c->what, sm_hdrcheck_reason_str(r),
		             sm_hdrcheck_reason_str(c->want));
		if (c->want == SM_HDRCHECK_OK && r == SM_HDRCHECK_OK) {
			cr_expect_eq(m.framing, c->framing, "%s", c->what);
			if (c->framing == SM_HDRCHECK_FRAMING_LENGTH)
				cr_expect_eq(m.content_length, c->cl, "%s", c->what);
		}
	}
}

Test(hdrcheck, every_byte_in_names_and_values)
{
	int tchars = 0, vbad = 0;
	for (int c = 0; c < 256; c++) {
		uint8_t b = (uint8_t)c;
		if (sm_hdrcheck_name(&b, 1) == SM_HDRCHECK_OK)
			tchars++;
		if (sm_hdrcheck_value(&b, 1) != SM_HDRCHECK_OK)
			vbad++;
	}
	cr_expect_eq(tchars, 26 * 2 + 10 + 15); /* ALPHA DIGIT and 15 symbols */
	cr_expect_eq(vbad, 32 - 1 + 1);         /* C0 controls but HTAB, plus DEL */
}

Test(hdrcheck, reason_names)
{
	for (int r = SM_HDRCHECK_OK; r <= SM_HDRCHECK_HOST_REPEATED; r++)
		cr_expect_str_neq(sm_hdrcheck_reason_str((enum sm_hdrcheck_reason)r), "unknown");
	cr_expect_str_eq(sm_hdrcheck_reason_str(SM_HDRCHECK_CL_AND_TE), "cl_and_te");
}
