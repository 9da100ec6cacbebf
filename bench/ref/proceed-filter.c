/*
 * proceed-filter: the smallest correct OpenSMTPD filter, as a yardstick.
 *
 * It registers the same phases and report events as the filter under test
 * (--phases / --events, comma-separated; defaults below), answers every
 * request with `proceed` at once and echoes data lines unchanged. Reports are
 * read and dropped. Input is parsed in place, answers for one read() are
 * written with one write(): this is as fast as the protocol allows here.
 *
 * Exits 0 on EOF (smtpd shutting down), 1 on a line it cannot parse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *default_phases = "connect,helo,ehlo,mail-from,rcpt-to,data,commit";
static const char *default_events =
    "link-connect,link-disconnect,link-identify,tx-begin,tx-mail,tx-rcpt,tx-reset,"
    "tx-commit,tx-rollback,protocol-server";

static char *out;
static size_t out_len, out_cap;

static void put(const char *p, size_t n)
{
	if (out_len + n > out_cap) {
		while (out_len + n > out_cap)
			out_cap = out_cap ? out_cap * 2 : 1 << 16;
		out = realloc(out, out_cap);
		if (!out) {
			perror("proceed-filter: realloc");
			exit(1);
		}
	}
	memcpy(out + out_len, p, n);
	out_len += n;
}

static void flush(void)
{
	size_t off = 0;
	while (off < out_len) {
		ssize_t w = write(1, out + off, out_len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("proceed-filter: write");
			exit(1);
		}
		off += (size_t)w;
	}
	out_len = 0;
}

static void register_list(const char *kind, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		if (!*name)
			continue;
		put("register|", 9);
		put(kind, strlen(kind));
		put("|smtp-in|", 9);
		put(name, strlen(name));
		put("\n", 1);
	}
	free(copy);
}

/* filter|VERSION|TS|SUBSYSTEM|PHASE|SID|TOKEN|PARAM */
static void handle(char *line, size_t n)
{
	if (n < 7 || memcmp(line, "filter|", 7) != 0)
		return;	/* report|... and anything else smtpd sends: nothing to do */
	char *f[7];
	char *p = line, *end = line + n;
	for (int i = 0; i < 7; i++) {
		char *bar = memchr(p, '|', (size_t)(end - p));
		if (!bar) {
			fprintf(stderr, "proceed-filter: malformed request: %.200s\n", line);
			exit(1);
		}
		f[i] = bar + 1;
		p = bar + 1;
	}
	/* f[3]=phase f[4]=sid f[5]=token f[6]=param (may contain '|') */
	size_t phase_len = (size_t)(f[4] - f[3] - 1);
	size_t sid_tok_len = (size_t)(f[6] - f[4] - 1);	/* "SID|TOKEN" */
	if (phase_len == 9 && memcmp(f[3], "data-line", 9) == 0) {
		put("filter-dataline|", 16);
		put(f[4], sid_tok_len);
		put("|", 1);
		put(f[6], (size_t)(end - f[6]));
		put("\n", 1);
	} else {
		put("filter-result|", 14);
		put(f[4], sid_tok_len);
		put("|proceed\n", 9);
	}
}

int main(int argc, char **argv)
{
	const char *phases = default_phases, *events = default_events;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--phases") == 0 && i + 1 < argc)
			phases = argv[++i];
		else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
			events = argv[++i];
		else {
			fprintf(stderr, "usage: proceed-filter [--phases a,b,c] [--events x,y,z]\n");
			return 2;
		}
	}

	size_t cap = 1 << 20, len = 0, off = 0;
	char *in = malloc(cap);
	int ready = 0;
	if (!in)
		return 1;
	for (;;) {
		if (len == cap) {
			if (off > 0) {
				memmove(in, in + off, len - off);
				len -= off;
				off = 0;
			} else {
				cap *= 2;
				in = realloc(in, cap);
				if (!in)
					return 1;
			}
		}
		ssize_t r = read(0, in + len, cap - len);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("proceed-filter: read");
			return 1;
		}
		len += (size_t)r;
		char *q;
		while ((q = memchr(in + off, '\n', len - off)) != NULL) {
			char *line = in + off;
			size_t n = (size_t)(q - line);
			*q = 0;
			off += n + 1;
			if (!ready) {
				if (n == 12 && memcmp(line, "config|ready", 12) == 0) {
					register_list("filter", phases);
					register_list("report", events);
					put("register|ready\n", 15);
					ready = 1;
				}
				continue;
			}
			handle(line, n);
		}
		if (off == len)
			off = len = 0;
		flush();
	}
}
