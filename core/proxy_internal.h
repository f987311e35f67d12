/* Read-only runtime state an instance shares with its reactors. */
#ifndef SM_CORE_PROXY_INTERNAL_H
#define SM_CORE_PROXY_INTERNAL_H

#include "core/hosts.h"

struct sm_proxy;

struct sm_proxy_rt {
	const struct sm_hosts *hosts; /* immutable after create */
};

const struct sm_proxy_rt *sm_proxy_rt(const struct sm_proxy *p);

#endif
