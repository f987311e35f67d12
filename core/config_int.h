/* Private to core/config.c and core/config_yaml.c: the value parsers and
 * key table shared by the YAML loader and --set. Not part of the API. */
#ifndef SM_CORE_CONFIG_INT_H
#define SM_CORE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Zeroed memory owned by the snapshot's arena, or NULL. */
void *sm_config_arena_alloc(struct sm_config_arena *a, size_t n);
/* NUL-terminated copy of s[0..n) in the arena, or NULL. */
char *sm_config_arena_strndup(struct sm_config_arena *a, const char *s, size_t n);

/* A snapshot with the defaults and the given source name, or NULL. */
struct sm_config *sm_config_new(const char *source);

/* `"text"` with non-printables escaped as \xNN and long text cut with "...". */
void sm_config_quote(const char *s, size_t len, char *out, size_t cap);

/* Value parsers: true on success, else false with "expected ..., got ..."
 * (or "out of memory") in msg. s need not be NUL-terminated. */
bool sm_config_parse_port(const char *s, size_t len, uint16_t *out, char *msg, size_t cap);
bool sm_config_parse_action(const char *s, size_t len, enum sm_action *out, char *msg, size_t cap);
/* Rule actions: the above plus fault. */
bool sm_config_parse_rule_action(const char *s, size_t len, enum sm_action *out, char *msg,
                                 size_t cap);
/* Decimal integer in [min, max] (at most 10 digits). */
bool sm_config_parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out);
/* Plain decimal in [0, 1]: "0", "1", "0.25", ".5", "1.0" (no exponent). */
bool sm_config_parse_probability(const char *s, size_t len, double *out);
/* RFC 9110 tchar (method and header-name characters). */
bool sm_config_is_tchar(char c);
bool sm_config_parse_method(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                            char *msg, size_t cap);
bool sm_config_parse_path(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                          char *msg, size_t cap);
bool sm_config_parse_listen(const char *s, size_t len, struct sm_config_listen *out, char *msg,
                            size_t cap);
bool sm_config_parse_cidr(const char *s, size_t len, struct sm_cidr *out, char *msg, size_t cap);
bool sm_config_parse_host(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                          char *msg, size_t cap);
bool sm_config_parse_name(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                          char *msg, size_t cap);

enum key_kind {
	K_U32,    /* uint32_t in [min, max] */
	K_U64,    /* uint64_t, any value (min/max unused) */
	K_POW2,   /* uint32_t power of two in [min, max] */
	K_ACTION, /* enum sm_action */
	K_PATH,   /* const char *; empty or null = NULL */
	K_ADDR,   /* const char * holding a valid "ADDR:PORT"; empty or null = NULL */
	K_BOOL,   /* bool: true/false (also yes/no, on/off, 1/0) */
};

struct sm_config_key {
	const char *path; /* dotted, as in --set */
	enum key_kind kind;
	size_t off;
	uint32_t min, max;
	bool restart; /* a reload cannot change it (what was built from it at start stays) */
};

/* Scalar keys by dotted path (threads, timeouts.connect_timeout_ms, ...):
 * the one schema the file and --set both read. */
extern const struct sm_config_key sm_config_keys[];
extern const size_t sm_config_n_keys;
const struct sm_config_key *sm_config_find_key(const char *path, size_t len);
/* name[0..len) is a section of the table (tls, observe, timeouts, limits:
 * the keys "name.*"): the index of its first key, else -1. */
int sm_config_section(const char *name, size_t len);

/* Store a scalar value into cfg; is_null marks a YAML null (~, null, empty). */
bool sm_config_set_scalar(struct sm_config *cfg, const struct sm_config_key *k, const char *s,
                          size_t len, bool is_null, char *msg, size_t cap);

#endif
