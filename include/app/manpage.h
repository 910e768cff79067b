/* The parts of the man pages made from the table of settings, in
 * mdoc(7): the options of threadlined(8) and the settings of
 * threadlined.conf(5). man/ splices them into its pages at build time, so
 * the pages cannot drift from what the program reads. */
#ifndef TL_MANPAGE_H
#define TL_MANPAGE_H

#include <stdio.h>

/* Print part "options" or "settings"; -1 for another name. */
int manpage_print(FILE *, const char *);

#endif
