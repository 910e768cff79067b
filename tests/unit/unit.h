/* The runner of the unit tests, which link their floor and Check alone
 * (no harness: nothing here starts a process): one suite of one tcase,
 * the tests in order, each forked with the checked fixtures around it. */
#ifndef TL_UNIT_H
#define TL_UNIT_H

#include <check.h>

struct unit_suite {
	const char *name;
	void (*setup)(void);    /* before each test; NULL: none */
	void (*teardown)(void); /* after each test; NULL: none */
	double timeout;         /* seconds per test; 0: Check's default */
	const TTest *loop;      /* run loops times (_i = 0..), first */
	int loops;
};

/* Run the NULL-terminated tests; the exit status for main. */
int unit_run(const struct unit_suite *, const TTest *tests[]);

#endif
