/* libFuzzer harness for configuration: the input is either a config file
 * (read through inih from a memory file) or, when it starts with '-', a
 * command line whose arguments are separated by NUL bytes. Every input
 * must be accepted or refused with a message; crashes and sanitizer
 * reports are findings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ARGS_MAX 64

static void
fuzz_args(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[ARGS_MAX + 2];
	char err[512];
	struct config cfg;
	int argc = 0;

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = "threadlined";
	for (char *p = copy; p < copy + size && argc <= ARGS_MAX;
	     p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	config_defaults(&cfg);
	if (config_parse_args(&cfg, argc, argv, err, sizeof err) == -1 &&
	    err[0] == '\0')
		abort(); /* refused without saying why */
	config_free(&cfg);
	free(copy);
}

static void
fuzz_file(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	struct config cfg;
	int fd = memfd_create("fuzz.conf", MFD_CLOEXEC);

	if (fd == -1 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	config_defaults(&cfg);
	err[0] = '\0';
	if (config_load_file(&cfg, path, err, sizeof err) == -1 &&
	    err[0] == '\0')
		abort(); /* refused without saying why */
	config_free(&cfg);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == '-')
		fuzz_args(data, size);
	else
		fuzz_file(data, size);
	return 0;
}
