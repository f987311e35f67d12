#include "base/rng.h"

#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)

uint64_t sm_rng_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t sm_rng_seed(uint64_t seed, uint32_t index)
{
	/* Mixing seed and index separately keeps (seed, index) and
	 * (seed + 1, index - 1) apart; the stream offsets are then random. */
	return sm_rng_mix(sm_rng_mix(seed) ^ sm_rng_mix(GOLDEN * ((uint64_t)index + 1)));
}

uint64_t sm_rng_next(uint64_t *state)
{
	*state += GOLDEN;
	return sm_rng_mix(*state);
}

double sm_rng_unit(uint64_t bits)
{
	return (double)(bits >> 11) * 0x1p-53;
}
