/* The services table and thread identity. */
#include <check.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "logger.h"
#include "service.h"

START_TEST(test_table_names)
{
	services_init(3);
	ck_assert_int_eq(service_count(), 7);
	ck_assert_int_eq(service_role_count(ROLE_WORKER), 3);
	ck_assert_str_eq(service_at(0)->name, program_invocation_short_name);
	ck_assert_int_eq(service_at(0)->role, ROLE_MAIN);
	ck_assert_str_eq(service_get(ROLE_LOGGER, 0)->name, "logger");
	ck_assert_str_eq(service_get(ROLE_ACCEPT, 0)->name, "accept");
	ck_assert_str_eq(service_get(ROLE_MAINT, 0)->name, "maint");
	for (int i = 0; i < 3; i++) {
		char want[16];

		snprintf(want, sizeof want, "worker-%d", i);
		ck_assert_str_eq(service_get(ROLE_WORKER, i)->name, want);
		ck_assert_int_eq(service_get(ROLE_WORKER, i)->index, i);
	}
	ck_assert_ptr_null(service_get(ROLE_WORKER, 3));
	ck_assert_str_eq(service_role_name(ROLE_WORKER), "worker");
	ck_assert_str_eq(service_role_name(ROLE_MAIN), "main");
	ck_assert_ptr_eq(service_self(), service_at(0));
	ck_assert_int_eq(service_self()->tid, gettid());
	services_free();
}
END_TEST

START_TEST(test_thread_gets_its_name)
{
	char path[64], comm[32], err[128];
	struct service *logger;
	FILE *f;

	services_init(1);
	logger = service_get(ROLE_LOGGER, 0);
	ck_assert_int_eq(
	    logger_open(&(struct logger_config){0}, err, sizeof err), 0);
	service_start(logger);
	/* Ready means the thread set its identity before anything else. */
	ck_assert_int_gt(logger->tid, 0);
	ck_assert_int_ne(logger->tid, gettid());
	snprintf(
	    path, sizeof path, "/proc/self/task/%d/comm", (int)logger->tid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(comm, sizeof comm, f));
	fclose(f);
	ck_assert_str_eq(comm, "logger\n");
	logger_stop();
	pthread_join(logger->thread, NULL);
	logger_close();
	services_free();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("service");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_table_names);
	tcase_add_test(tc, test_thread_gets_its_name);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
