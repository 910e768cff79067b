/* Allocation that cannot fail: running out of memory is fatal here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		fatalx("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb == 0 ? 1 : nmemb, n == 0 ? 1 : n);

	if (p == NULL)
		fatalx("out of memory allocating %zu * %zu bytes", nmemb, n);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n == 0 ? 1 : n);

	if (p == NULL)
		fatalx("out of memory reallocating %zu bytes", n);
	return p;
}

void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	void *p = reallocarray(old, nmemb, size);

	if (p == NULL)
		fatalx(
		    "out of memory reallocating %zu * %zu bytes", nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatalx("out of memory copying a string");
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("out of memory formatting a string");
	return n;
}
