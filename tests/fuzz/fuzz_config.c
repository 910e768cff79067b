/* libFuzzer harness for configuration: the input is either a config file
 * (read through inih from a memory file) or, when it starts with '-', a
 * command line whose arguments are separated by NUL bytes. Every input
 * must be accepted or refused with a message, and an accepted one must
 * print back, setting by setting, to values that parse to the same;
 * crashes and sanitizer reports are findings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ARGS_MAX 64
#define UNSET    "\001unset"

/* Each setting of an accepted config, printed, parses to the same. */
static void
fuzz_roundtrip(const struct config *cfg)
{
	struct config copy;
	char err[512], *v, *again;

	config_defaults(&copy);
	for (size_t i = 0; i < SETTINGS_COUNT; i++) {
		v = settings_format(cfg, &settings[i], UNSET);
		if (strcmp(v, UNSET) != 0) {
			if (settings_set(
			        &copy, &settings[i], v, err, sizeof err) == -1)
				abort(); /* printed what it refuses */
			again = settings_format(&copy, &settings[i], UNSET);
			if (strcmp(v, again) != 0)
				abort(); /* printed back differently */
			free(again);
		}
		free(v);
	}
	config_free(&copy);
}

static void
fuzz_args(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[ARGS_MAX + 2];
	char err[512];
	struct config cfg;
	int argc = 0, r;

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
	err[0] = '\0';
	r = config_parse_args(&cfg, argc, argv, err, sizeof err);
	if (r == -1 && err[0] == '\0')
		abort(); /* refused without saying why */
	if (r == 0)
		fuzz_roundtrip(&cfg);
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
	if (config_load_file(&cfg, path, err, sizeof err) == -1) {
		if (err[0] == '\0')
			abort(); /* refused without saying why */
	} else
		fuzz_roundtrip(&cfg);
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
