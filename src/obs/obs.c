/* obs's settings, kept from start-up, and the uptime clock. */
#include <time.h>

#include "obs.h"

static struct obs_config obs_cfg;
static struct timespec obs_started;

void
obs_init(const struct obs_config *cfg)
{
	obs_cfg = *cfg;
	clock_gettime(CLOCK_MONOTONIC, &obs_started);
}

const struct obs_config *
obs_config(void)
{
	return &obs_cfg;
}

long long
obs_uptime(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - obs_started.tv_sec);
}
