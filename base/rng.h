/* A small, fast, reproducible PRNG (splitmix64) for fault injection.
 *
 * The state is one uint64_t owned by the caller (one per reactor); there is
 * no global state. Not cryptographic: never use it for keys, serials or
 * anything an attacker must not predict.
 *
 * Reproducibility: config `seed` (or --set seed=N) names the run; each
 * reactor seeds its own state with sm_rng_seed(seed, reactor_index), so the
 * same seed, thread count and traffic order give the same sequence per
 * reactor. Seed 0 means "pick one from the clock at start" (the caller does
 * that and logs the seed it picked). */
#ifndef SM_BASE_RNG_H
#define SM_BASE_RNG_H

#include <stdint.h>

/* The initial state of stream `index` (reactor number) of run `seed`.
 * Different indexes give unrelated streams. */
uint64_t sm_rng_seed(uint64_t seed, uint32_t index);

/* Next 64 uniformly distributed bits; advances *state. */
uint64_t sm_rng_next(uint64_t *state);

/* A uniform double in [0, 1) from 64 random bits (the top 53 are used). */
double sm_rng_unit(uint64_t bits);

/* The splitmix64 finaliser: a bijective mix of 64 bits. Used to derive
 * independent per-rule rolls from one per-decision value. */
uint64_t sm_rng_mix(uint64_t x);

#endif
