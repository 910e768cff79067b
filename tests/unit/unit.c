/* The unit tests' runner (unit.h). */
#include <check.h>
#include <stdlib.h>

#include "unit.h"

int
unit_run(const struct unit_suite *u, const TTest *tests[])
{
	Suite *s = suite_create(u->name);
	TCase *tc = tcase_create(u->name);
	SRunner *sr;
	int failed;

	if (u->setup != NULL || u->teardown != NULL)
		tcase_add_checked_fixture(tc, u->setup, u->teardown);
	if (u->timeout > 0)
		tcase_set_timeout(tc, u->timeout);
	if (u->loop != NULL)
		tcase_add_loop_test(tc, u->loop, 0, u->loops);
	for (int i = 0; tests[i] != NULL; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
