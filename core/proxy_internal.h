/* Read-only runtime state an instance shares with its reactors. */
#ifndef SM_CORE_PROXY_INTERNAL_H
#define SM_CORE_PROXY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/hosts.h"
#include "tls/ca.h"

struct sm_proxy;

struct sm_proxy_rt {
	const struct sm_hosts *hosts; /* immutable after create */
	const struct sm_ca *ca;       /* the local CA, NULL when nothing intercepts */
	const uint8_t *trust_pem;     /* trusted roots for upstream verification (PEM) */
	size_t trust_len;
};

const struct sm_proxy_rt *sm_proxy_rt(const struct sm_proxy *p);

#endif
