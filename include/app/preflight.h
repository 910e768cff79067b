/* --check-config beyond the settings themselves: what start-up would
 * refuse or trip over later, found without binding, opening or changing
 * anything. */
#ifndef TL_PREFLIGHT_H
#define TL_PREFLIGHT_H

#include "config.h"

/* Report each problem with config_problem (cfg->problems counts them) and
 * the memcached options that will be ignored as a notice on stderr. */
void preflight_run(struct config *);

#endif
