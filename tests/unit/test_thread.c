/* The base floor alone: the thread table and thread identity, the rate
 * limit of log lines. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ratelimit.h"
#include "thread.h"
#include "unit.h"

static const int counts[ROLE_COUNT] = {
    [ROLE_LOGGER] = 1, [ROLE_ACCEPT] = 1, [ROLE_WORKER] = 3, [ROLE_MAINT] = 1};

START_TEST(test_table_names)
{
	ck_assert_int_eq(threads_init(counts), 0);
	ck_assert_int_eq(thread_count(), 7);
	ck_assert_int_eq(thread_role_count(ROLE_WORKER), 3);
	ck_assert_str_eq(thread_at(0)->name, program_invocation_short_name);
	ck_assert_int_eq(thread_at(0)->role, ROLE_MAIN);
	ck_assert_str_eq(thread_get(ROLE_LOGGER, 0)->name, "logger");
	ck_assert_str_eq(thread_get(ROLE_ACCEPT, 0)->name, "accept");
	ck_assert_str_eq(thread_get(ROLE_MAINT, 0)->name, "maint");
	for (int i = 0; i < 3; i++) {
		char want[16];

		snprintf(want, sizeof want, "worker-%d", i);
		ck_assert_str_eq(thread_get(ROLE_WORKER, i)->name, want);
		ck_assert_int_eq(thread_get(ROLE_WORKER, i)->index, i);
		ck_assert_ptr_eq(thread_find(want), thread_get(ROLE_WORKER, i));
	}
	ck_assert_ptr_null(thread_get(ROLE_WORKER, 3));
	ck_assert_ptr_null(thread_find("worker-3"));
	ck_assert_str_eq(thread_role_name(ROLE_WORKER), "worker");
	ck_assert_str_eq(thread_role_name(ROLE_MAIN), "main");
	ck_assert_int_eq(thread_role_parse("maint"), ROLE_MAINT);
	ck_assert_int_eq(thread_role_parse("worker-0"), -1);
	ck_assert_ptr_eq(thread_self(), thread_at(0));
	ck_assert_str_eq(thread_self_name(), program_invocation_short_name);
	ck_assert_int_eq(thread_self()->tid, gettid());
	threads_free();
	ck_assert_ptr_null(thread_self());
	ck_assert_str_eq(thread_self_name(), "-");
}
END_TEST

/* What the started thread saw of itself, before it reported ready. */
static struct {
	struct thread *self;
	char comm[32];
	int term_blocked;
} seen;

static void
probe_main(struct thread *self)
{
	char path[64];
	sigset_t mask;
	FILE *f;

	seen.self = thread_self();
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)self->tid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(seen.comm, sizeof seen.comm, f) == NULL)
			seen.comm[0] = '\0';
		fclose(f);
	}
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	seen.term_blocked = sigismember(&mask, SIGTERM);
	thread_ready();
}

START_TEST(test_thread_gets_its_name)
{
	struct thread *maint;

	ck_assert_int_eq(threads_init(counts), 0);
	maint = thread_get(ROLE_MAINT, 0);
	ck_assert_int_eq(thread_start(maint, probe_main), 0);
	/* Ready means the thread set its identity before anything else. */
	ck_assert_int_gt(maint->tid, 0);
	ck_assert_int_ne(maint->tid, gettid());
	thread_join(maint);
	ck_assert_ptr_eq(seen.self, maint);
	ck_assert_str_eq(seen.comm, "maint\n");
	ck_assert_int_eq(seen.term_blocked, 1);
	ck_assert_ptr_eq(thread_self(), thread_at(0));
	threads_free();
}
END_TEST

/* ratelimit.h: a window opens at the first line past the period, burst
 * lines go, the rest are counted for the next line to say. */
START_TEST(test_ratelimit)
{
	struct ratelimit rl = {0};

	/* The slow-request lines' windows: whole seconds, 2 a second. */
	ck_assert(ratelimit_allow(&rl, 5, 1, 2));
	ck_assert(ratelimit_allow(&rl, 5, 1, 2));
	ck_assert(!ratelimit_allow(&rl, 5, 1, 2));
	ck_assert(!ratelimit_allow(&rl, 5, 1, 2));
	ck_assert(ratelimit_allow(&rl, 6, 1, 2));
	ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 2);
	ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 0);
	/* A minute from the last line let through, one a minute. */
	rl = (struct ratelimit){0};
	ck_assert(ratelimit_allow(&rl, 100, 60, 1));
	ck_assert(!ratelimit_allow(&rl, 159, 60, 1));
	ck_assert(ratelimit_allow(&rl, 160, 60, 1));
	ck_assert(!ratelimit_allow(&rl, 219, 60, 1));
	ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 2);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
	    test_table_names, test_thread_gets_its_name, test_ratelimit, NULL};

	return unit_run(&(struct unit_suite){.name = "thread"}, tests);
}
