/* threadline hotkeys [N]: a table of each worker's top N keys by
 * requests, with the error bound of each count and the value bytes the
 * key sent (from the bytes table, "-" when it is not among them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmd_hotkeys.h"

#define HOT_NAME_MAX 16
#define HOT_KEY_MAX  (250 * 3 + 1) /* URI-encoded, as the server sends */

struct hot_row {
	char worker[HOT_NAME_MAX];
	int bytes; /* of the bytes table, else of requests */
	unsigned rank;
	char key[HOT_KEY_MAX];
	unsigned long long count, error;
};

/* "STAT worker-0:requests:1 KEY count=C error=E" into r; false for a
 * line of another form (the totals). */
static int
hot_parse(const char *line, struct hot_row *r)
{
	char name[64], by[16];

	if (sscanf(line,
	        "STAT %63[^: ]:%15[a-z]:%u %750s count=%llu error=%llu", name,
	        by, &r->rank, r->key, &r->count, &r->error) != 6)
		return 0;
	if (strlen(name) >= sizeof r->worker)
		return 0;
	strcpy(r->worker, name);
	r->bytes = strcmp(by, "bytes") == 0;
	return 1;
}

/* The bytes counted for the key on the worker, or NULL. */
static const struct hot_row *
hot_bytes(const struct hot_row *rows, int n, const struct hot_row *r)
{
	for (int i = 0; i < n; i++)
		if (rows[i].bytes && strcmp(rows[i].worker, r->worker) == 0 &&
		    strcmp(rows[i].key, r->key) == 0)
			return &rows[i];
	return NULL;
}

int
cmd_hotkeys(struct client *c, int argc, char **argv)
{
	struct hot_row *rows = NULL;
	unsigned long want = 10;
	char *end, *line;
	int n = 0, cap = 0;
	size_t len;

	if (argc > 2)
		die(EXIT_USAGE, "usage: threadline hotkeys [N]");
	if (argc == 2) {
		want = strtoul(argv[1], &end, 10);
		if (*argv[1] < '1' || *argv[1] > '9' || *end != '\0')
			die(EXIT_USAGE, "bad N '%s': a number from 1", argv[1]);
	}
	/* All of each bytes table, so that a key hot by requests finds its
	 * bytes there. */
	client_send(c, "stats hotkeys 64\r\n", 18);
	while (strcmp(line = client_line(c, &len), "END") != 0) {
		client_check(line);
		if (n == cap) {
			struct hot_row *more;

			cap = cap == 0 ? 256 : cap * 2;
			if ((more = realloc(rows, cap * sizeof *rows)) == NULL)
				die(EXIT_ANSWER, "out of memory");
			rows = more;
		}
		if (hot_parse(line, &rows[n]))
			n++;
	}
	printf("%-10s %4s %-32s %12s %10s %14s\n", "WORKER", "RANK", "KEY",
	    "REQUESTS", "ERROR", "BYTES");
	for (int i = 0; i < n; i++) {
		const struct hot_row *r = &rows[i], *b;
		char bytes[24];

		if (r->bytes || r->rank > want)
			continue;
		b = hot_bytes(rows, n, r);
		if (b != NULL)
			snprintf(bytes, sizeof bytes, "%llu", b->count);
		else
			strcpy(bytes, "-");
		printf("%-10s %4u %-32s %12llu %10llu %14s\n", r->worker,
		    r->rank, r->key, r->count, r->error, bytes);
	}
	free(rows);
	return 0;
}
