#include "core/fault.h"

#include <stdio.h>
#include <string.h>

#include "base/result.h"
#include "base/rng.h"

bool sm_fault_fires(const struct sm_fault *f, uint64_t bits)
{
	if (f->probability >= 1.0)
		return true;
	if (!(f->probability > 0.0))
		return false;
	return sm_rng_unit(bits) < f->probability;
}

bool sm_fault_roll(const struct sm_fault *f, uint64_t *rng_state)
{
	return sm_fault_fires(f, sm_rng_next(rng_state));
}

struct phrase {
	unsigned short code;
	const char *text;
};

/* RFC 9110 section 15, plus 429 and 431 (RFC 6585) and 451 (RFC 7725). */
static const struct phrase phrases[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {511, "Network Authentication Required"},
};

const char *sm_fault_reason_phrase(unsigned status)
{
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].code == status)
			return phrases[i].text;
	return "";
}

bool sm_fault_header_reserved(const char *name, size_t nlen)
{
	static const char *const reserved[] = {
	        "content-length",   "transfer-encoding", "connection", "keep-alive",
	        "proxy-connection", "upgrade",           "trailer",    "te",
	        "content-type",
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strlen(reserved[i]) != nlen)
			continue;
		size_t k = 0;
		while (k < nlen) {
			char c = name[k];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != reserved[i][k])
				break;
			k++;
		}
		if (k == nlen)
			return true;
	}
	return false;
}

static bool has_length(const struct sm_fault *f)
{
	return f->status != 204 && f->status != 304;
}

/* Appends to out when it fits; always advances *o, so a first pass with
 * cap 0 measures. */
static void put(uint8_t *out, size_t cap, size_t *o, const void *p, size_t n)
{
	if (out && *o <= cap && n <= cap - *o)
		memcpy(out + *o, p, n);
	*o += n;
}

static void put_str(uint8_t *out, size_t cap, size_t *o, const char *s)
{
	put(out, cap, o, s, strlen(s));
}

static size_t render(const struct sm_fault *f, uint8_t *out, size_t cap, size_t *head_len)
{
	size_t o = 0;
	char num[32];
	if (f->reset) {
		if (head_len)
			*head_len = 0;
		return 0;
	}
	snprintf(num, sizeof(num), "%u", (unsigned)f->status);
	put_str(out, cap, &o, "HTTP/1.1 ");
	put_str(out, cap, &o, num);
	put_str(out, cap, &o, " ");
	put_str(out, cap, &o, sm_fault_reason_phrase(f->status));
	put_str(out, cap, &o, "\r\n");
	if (f->content_type) {
		put_str(out, cap, &o, "Content-Type: ");
		put_str(out, cap, &o, f->content_type);
		put_str(out, cap, &o, "\r\n");
	}
	if (has_length(f)) {
		snprintf(num, sizeof(num), "%zu", f->body_len);
		put_str(out, cap, &o, "Content-Length: ");
		put_str(out, cap, &o, num);
		put_str(out, cap, &o, "\r\n");
	}
	for (size_t i = 0; i < f->n_headers; i++) {
		put_str(out, cap, &o, f->headers[i].name);
		put_str(out, cap, &o, ": ");
		put_str(out, cap, &o, f->headers[i].value);
		put_str(out, cap, &o, "\r\n");
	}
	put_str(out, cap, &o, "Connection: close\r\n\r\n");
	if (head_len)
		*head_len = o;
	if (has_length(f))
		put(out, cap, &o, f->body, f->body_len);
	return o;
}

size_t sm_fault_response_size(const struct sm_fault *f, size_t *head_len)
{
	return render(f, NULL, 0, head_len);
}

int sm_fault_response(const struct sm_fault *f, uint8_t *out, size_t cap)
{
	size_t need = render(f, NULL, 0, NULL);
	if (need > cap || need > (size_t)INT32_MAX)
		return SM_ERR_LIMIT;
	return (int)render(f, out, cap, NULL);
}
