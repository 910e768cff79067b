/* Addresses as text: memcached's stats words and listen specs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

void
addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	(void)len;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	} else
		snprintf(buf, size, "unknown");
}

void
addr_format_stats(
    const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	char host[ADDR_MAX];

	if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *su = (const void *)sa;
		size_t n = len > off ? strnlen(su->sun_path, len - off) : 0;

		/* A unix-domain client has no address: memcached prints
		 * the empty one it keeps for it. */
		if (n == 0)
			snprintf(buf, size, "?:<AF 0>");
		else
			snprintf(buf, size, "unix:%.*s", (int)n, su->sun_path);
		return;
	}
	addr_format(sa, len, host, sizeof host);
	snprintf(buf, size, "%s:%s", sa->sa_family == AF_INET6 ? "tcp6" : "tcp",
	    host);
}

int
addr_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int
addr_split(const char *spec, int defport, char *host, size_t hlen, int *port)
{
	const char *colon, *hend;
	int p = defport;

	if (spec[0] == '[') {
		hend = strchr(spec, ']');
		if (hend == NULL)
			return -1;
		if (hend[1] == ':') {
			if (addr_port(hend + 2, &p) == -1)
				return -1;
		} else if (hend[1] != '\0')
			return -1;
		spec++;
	} else {
		colon = strchr(spec, ':');
		/* More than one colon: a bare IPv6 address, no port. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			if (addr_port(colon + 1, &p) == -1)
				return -1;
			hend = colon;
		} else
			hend = spec + strlen(spec);
	}
	if (hend == spec || (size_t)(hend - spec) >= hlen)
		return -1;
	memcpy(host, spec, (size_t)(hend - spec));
	host[hend - spec] = '\0';
	*port = p;
	return 0;
}
