#include "proto/clienthello.h"

#include <string.h>

#include "base/result.h"

#define TLS_RECORD_HANDSHAKE 0x16
#define TLS_HS_CLIENT_HELLO  0x01
#define TLS_RECORD_MAX       16384u /* TLSPlaintext.length <= 2^14 */

#define EXT_SERVER_NAME        0x0000
#define EXT_ALPN               0x0010
#define EXT_SESSION_TICKET     0x0023
#define EXT_PRE_SHARED_KEY     0x0029
#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_ECH                0xfe0d

static uint16_t rd16(const uint8_t *b)
{
	return (uint16_t)((b[0] << 8) | b[1]);
}

static int fail(struct sm_clienthello *p, enum sm_clienthello_reason r, int code)
{
	p->reason = r;
	p->result = code;
	p->state = SM_CH_S_FAILED;
	return code;
}

void sm_clienthello_init(struct sm_clienthello *p, uint8_t *scratch, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->scratch = scratch;
	p->cap = cap;
	p->state = SM_CH_S_RECORD_HEADER;
	p->result = SM_AGAIN;
}

bool sm_clienthello_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* A bounded reader over the reassembled message: every take checks length,
 * so a lying length field can never read past the message. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static bool take(struct rd *r, size_t n, const uint8_t **out)
{
	if (n > r->left)
		return false;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static bool take_u8(struct rd *r, size_t *v)
{
	const uint8_t *b;
	if (!take(r, 1, &b))
		return false;
	*v = b[0];
	return true;
}

static bool take_u16(struct rd *r, size_t *v)
{
	const uint8_t *b;
	if (!take(r, 2, &b))
		return false;
	*v = rd16(b);
	return true;
}

/* A sub-reader over a vector with a 1- or 2-byte length prefix. */
static bool take_vec(struct rd *r, int prefix, struct rd *sub)
{
	size_t n = 0;
	if (!(prefix == 1 ? take_u8(r, &n) : take_u16(r, &n)))
		return false;
	sub->p = r->p;
	sub->left = n;
	const uint8_t *skip;
	return take(r, n, &skip);
}

/* RFC 6066 host_name: a DNS name in ASCII, no NUL or control bytes, no
 * spaces. Deliberately lenient otherwise (underscores, a trailing dot) since
 * policy, not this parser, decides what to do with odd names. */
static bool sni_bytes_ok(const uint8_t *b, size_t n)
{
	if (n == 0 || n > SM_CLIENTHELLO_SNI_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (b[i] <= 0x20 || b[i] >= 0x7f)
			return false;
	}
	return true;
}

static int parse_sni(struct sm_clienthello *p, struct rd ext)
{
	struct rd list;
	if (!take_vec(&ext, 2, &list) || ext.left != 0 || list.left == 0)
		return -1;
	while (list.left > 0) {
		size_t type;
		struct rd name;
		if (!take_u8(&list, &type) || !take_vec(&list, 2, &name))
			return -1;
		if (type != 0)
			continue; /* unknown name types are skipped (RFC 6066 3) */
		if (p->has_sni || !sni_bytes_ok(name.p, name.left))
			return -1;
		memcpy(p->sni, name.p, name.left);
		p->sni[name.left] = '\0';
		p->sni_len = (uint16_t)name.left;
		p->has_sni = true;
	}
	return 0;
}

static int parse_alpn(struct sm_clienthello *p, struct rd ext)
{
	struct rd list;
	if (!take_vec(&ext, 2, &list) || ext.left != 0 || list.left == 0)
		return -1;
	size_t used = 0;
	while (list.left > 0) {
		struct rd name;
		if (!take_vec(&list, 1, &name) || name.left == 0)
			return -1;
		if (name.left == 2 && sm_clienthello_is_grease(rd16(name.p))) {
			p->grease++;
			continue;
		}
		if (p->alpn_count >= SM_CLIENTHELLO_ALPN_MAX ||
		    used + name.left > SM_CLIENTHELLO_ALPN_BYTES) {
			if (p->alpn_dropped < UINT8_MAX)
				p->alpn_dropped++;
			continue;
		}
		memcpy(p->alpn_buf + used, name.p, name.left);
		p->alpn_off[p->alpn_count] = (uint16_t)used;
		p->alpn_len[p->alpn_count] = (uint8_t)name.left;
		p->alpn_count++;
		used += name.left;
	}
	p->has_alpn = true;
	return 0;
}

static int parse_versions(struct sm_clienthello *p, struct rd ext)
{
	struct rd list;
	if (!take_vec(&ext, 1, &list) || ext.left != 0 || list.left < 2 || list.left % 2)
		return -1;
	while (list.left > 0) {
		size_t v = 0;
		take_u16(&list, &v);
		if (sm_clienthello_is_grease((uint16_t)v)) {
			p->grease++;
			continue;
		}
		if (p->version_count < SM_CLIENTHELLO_VERSIONS_MAX)
			p->versions[p->version_count++] = (uint16_t)v;
		/* Only real TLS versions count toward the maximum: a draft or
		 * unknown code point must not look like "newer than 1.3". */
		if (v >= 0x0300 && v <= 0x0304 && v > p->max_version)
			p->max_version = (uint16_t)v;
	}
	p->has_supported_versions = true;
	return 0;
}

/* Remembers which of the extensions we interpret were seen, to refuse
 * duplicates (RFC 8446 4.2: at most one of each type). */
static int seen_once(uint32_t *seen, uint16_t type)
{
	int bit;
	switch (type) {
	case EXT_SERVER_NAME: bit = 0; break;
	case EXT_ALPN: bit = 1; break;
	case EXT_SUPPORTED_VERSIONS: bit = 2; break;
	case EXT_SESSION_TICKET: bit = 3; break;
	case EXT_PRE_SHARED_KEY: bit = 4; break;
	case EXT_ECH: bit = 5; break;
	default: return 0;
	}
	if (*seen & (1u << bit))
		return -1;
	*seen |= 1u << bit;
	return 0;
}

static int parse_extensions(struct sm_clienthello *p, struct rd exts)
{
	uint32_t seen = 0;
	while (exts.left > 0) {
		size_t type;
		struct rd body;
		if (!take_u16(&exts, &type) || !take_vec(&exts, 2, &body))
			return fail(p, SM_CH_BAD_EXTENSIONS, SM_ERR_INVALID);
		if (sm_clienthello_is_grease((uint16_t)type)) {
			p->grease++;
			continue;
		}
		if (seen_once(&seen, (uint16_t)type) < 0)
			return fail(p, SM_CH_DUPLICATE_EXTENSION, SM_ERR_INVALID);
		p->extensions++;
		switch (type) {
		case EXT_SERVER_NAME:
			if (parse_sni(p, body) < 0)
				return fail(p, SM_CH_BAD_SNI, SM_ERR_INVALID);
			break;
		case EXT_ALPN:
			if (parse_alpn(p, body) < 0)
				return fail(p, SM_CH_BAD_ALPN, SM_ERR_INVALID);
			break;
		case EXT_SUPPORTED_VERSIONS:
			if (parse_versions(p, body) < 0)
				return fail(p, SM_CH_BAD_SUPPORTED_VERSIONS, SM_ERR_INVALID);
			break;
		case EXT_SESSION_TICKET: p->has_session_ticket = true; break;
		case EXT_PRE_SHARED_KEY: p->has_psk = true; break;
		case EXT_ECH: p->has_ech = true; break;
		default: break;
		}
	}
	return SM_OK;
}

/* The whole message is in scratch: parse ClientHello fields. */
static int parse_message(struct sm_clienthello *p)
{
	struct rd r = {p->scratch + 4, p->message_len};
	const uint8_t *b;
	size_t n = 0;

	if (!take(&r, 2, &b))
		return fail(p, SM_CH_BAD_LENGTH, SM_ERR_INVALID);
	p->legacy_version = rd16(b);
	if (b[0] != 3)
		return fail(p, SM_CH_BAD_VERSION, SM_ERR_INVALID);
	if (!take(&r, 32, &b))
		return fail(p, SM_CH_BAD_LENGTH, SM_ERR_INVALID);

	struct rd sid;
	if (!take_vec(&r, 1, &sid))
		return fail(p, SM_CH_BAD_LENGTH, SM_ERR_INVALID);
	if (sid.left > 32)
		return fail(p, SM_CH_BAD_SESSION_ID, SM_ERR_INVALID);

	struct rd suites;
	if (!take_vec(&r, 2, &suites))
		return fail(p, SM_CH_BAD_LENGTH, SM_ERR_INVALID);
	if (suites.left == 0 || suites.left % 2)
		return fail(p, SM_CH_BAD_CIPHER_SUITES, SM_ERR_INVALID);
	while (suites.left > 0) {
		take_u16(&suites, &n);
		if (sm_clienthello_is_grease((uint16_t)n))
			p->grease++;
		else
			p->cipher_suites++;
	}

	struct rd comp;
	if (!take_vec(&r, 1, &comp))
		return fail(p, SM_CH_BAD_LENGTH, SM_ERR_INVALID);
	if (comp.left == 0)
		return fail(p, SM_CH_BAD_COMPRESSION, SM_ERR_INVALID);

	p->max_version = p->legacy_version;
	if (r.left > 0) { /* extensions are optional before TLS 1.3 */
		struct rd exts;
		if (!take_vec(&r, 2, &exts) || r.left != 0)
			return fail(p, SM_CH_BAD_EXTENSIONS, SM_ERR_INVALID);
		uint16_t legacy = p->max_version;
		p->max_version = 0;
		int rc = parse_extensions(p, exts);
		if (rc != SM_OK)
			return rc;
		if (!p->has_supported_versions || p->max_version == 0)
			p->max_version = legacy;
	}
	p->state = SM_CH_S_DONE;
	p->result = SM_OK;
	return SM_OK;
}

/* Checks a record header; the first one decides "is this TLS at all". */
static int record_header(struct sm_clienthello *p)
{
	const uint8_t *h = p->hdr;
	uint16_t len = rd16(h + 3);
	if (p->records == 0) {
		if (h[1] != 3 || h[2] > 4)
			return fail(p, SM_CH_NOT_TLS, SM_ERR_PROTOCOL);
		p->record_version = rd16(h + 1);
	} else {
		if (h[0] != TLS_RECORD_HANDSHAKE)
			return fail(p, SM_CH_RECORD_TYPE, SM_ERR_INVALID);
		if (h[1] != 3)
			return fail(p, SM_CH_RECORD_VERSION, SM_ERR_INVALID);
	}
	/* Zero-length handshake records are forbidden (RFC 8446 5.1) and
	 * would let a peer feed headers forever without progress. */
	if (len == 0 || len > TLS_RECORD_MAX)
		return fail(p, SM_CH_RECORD_LENGTH, SM_ERR_INVALID);
	p->records++;
	p->record_left = len;
	p->state = SM_CH_S_RECORD_BODY;
	return SM_AGAIN;
}

/* New message bytes arrived in scratch: learn the length, check limits,
 * parse once whole. */
static int message_progress(struct sm_clienthello *p)
{
	if (p->need == 0 && p->have >= 4) {
		if (p->scratch[0] != TLS_HS_CLIENT_HELLO)
			return fail(p, SM_CH_NOT_CLIENT_HELLO, SM_ERR_INVALID);
		uint32_t mlen = ((uint32_t)p->scratch[1] << 16) | ((uint32_t)p->scratch[2] << 8) |
		                p->scratch[3];
		if ((size_t)mlen + 4 > p->cap)
			return fail(p, SM_CH_TOO_LARGE, SM_ERR_LIMIT);
		p->message_len = mlen;
		p->need = (size_t)mlen + 4;
	}
	if (p->need != 0 && p->have >= p->need)
		return parse_message(p);
	return SM_AGAIN;
}

int sm_clienthello_feed(struct sm_clienthello *p, const uint8_t *data, size_t len)
{
	size_t i = 0;

	if (p->state == SM_CH_S_DONE || p->state == SM_CH_S_FAILED)
		return p->result;
	/* The very first byte tells TLS from anything else. */
	if (len > 0 && p->bytes_seen == 0 && data[0] != TLS_RECORD_HANDSHAKE)
		return fail(p, SM_CH_NOT_TLS, SM_ERR_PROTOCOL);

	while (i < len) {
		if (p->state == SM_CH_S_RECORD_HEADER) {
			/* Byte by byte (5 at most) so a verdict falls on the
			 * same byte whatever the split. */
			p->hdr[p->hdr_have++] = data[i++];
			p->bytes_seen++;
			/* Version byte 1 is known before the whole header. */
			if (p->records == 0 && p->hdr_have >= 2 && p->hdr[1] != 3)
				return fail(p, SM_CH_NOT_TLS, SM_ERR_PROTOCOL);
			if (p->hdr_have < 5)
				continue;
			p->hdr_have = 0;
			int rc = record_header(p);
			if (rc != SM_AGAIN)
				return rc;
			continue;
		}
		/* SM_CH_S_RECORD_BODY: copy at most what the message still
		 * needs (unknown length: up to the 4-byte header first). */
		size_t n = p->record_left;
		if (n > len - i)
			n = len - i;
		size_t want = p->need ? p->need - p->have : (p->have < 4 ? 4 - p->have : 0);
		if (n > want)
			n = want;
		memcpy(p->scratch + p->have, data + i, n);
		p->have += n;
		p->record_left = (uint16_t)(p->record_left - n);
		i += n;
		p->bytes_seen += n;
		int rc = message_progress(p);
		if (rc != SM_AGAIN)
			return rc;
		if (p->record_left == 0)
			p->state = SM_CH_S_RECORD_HEADER;
	}
	return SM_AGAIN;
}

int sm_clienthello_finish(struct sm_clienthello *p)
{
	if (p->state == SM_CH_S_DONE || p->state == SM_CH_S_FAILED)
		return p->result;
	return fail(p, SM_CH_TRUNCATED, SM_ERR_TRUNCATED);
}

const uint8_t *sm_clienthello_alpn(const struct sm_clienthello *p, unsigned i, size_t *len)
{
	if (i >= p->alpn_count) {
		*len = 0;
		return NULL;
	}
	*len = p->alpn_len[i];
	return p->alpn_buf + p->alpn_off[i];
}

bool sm_clienthello_offers_alpn(const struct sm_clienthello *p, const char *proto, size_t len)
{
	for (unsigned i = 0; i < p->alpn_count; i++) {
		if (p->alpn_len[i] == len && memcmp(p->alpn_buf + p->alpn_off[i], proto, len) == 0)
			return true;
	}
	return false;
}

const char *sm_clienthello_reason_str(enum sm_clienthello_reason r)
{
	switch (r) {
	case SM_CH_NONE: return "none";
	case SM_CH_NOT_TLS: return "not_tls";
	case SM_CH_TOO_LARGE: return "too_large";
	case SM_CH_TRUNCATED: return "truncated";
	case SM_CH_RECORD_LENGTH: return "record_length";
	case SM_CH_RECORD_TYPE: return "record_type";
	case SM_CH_RECORD_VERSION: return "record_version";
	case SM_CH_NOT_CLIENT_HELLO: return "not_client_hello";
	case SM_CH_BAD_LENGTH: return "bad_length";
	case SM_CH_BAD_VERSION: return "bad_version";
	case SM_CH_BAD_SESSION_ID: return "bad_session_id";
	case SM_CH_BAD_CIPHER_SUITES: return "bad_cipher_suites";
	case SM_CH_BAD_COMPRESSION: return "bad_compression";
	case SM_CH_BAD_EXTENSIONS: return "bad_extensions";
	case SM_CH_DUPLICATE_EXTENSION: return "duplicate_extension";
	case SM_CH_BAD_SNI: return "bad_sni";
	case SM_CH_BAD_ALPN: return "bad_alpn";
	case SM_CH_BAD_SUPPORTED_VERSIONS: return "bad_supported_versions";
	}
	return "unknown";
}

const char *sm_clienthello_version_str(uint16_t v)
{
	switch (v) {
	case 0x0304: return "tls1.3";
	case 0x0303: return "tls1.2";
	case 0x0302: return "tls1.1";
	case 0x0301: return "tls1.0";
	case 0x0300: return "ssl3.0";
	}
	return "unknown";
}
