/*
 * smtp-load: many short SMTP sessions (banner, EHLO, MAIL FROM, RCPT TO, QUIT)
 * against one server, `concurrency` at a time, for a fixed time. One epoll
 * loop, non-blocking sockets. Each session binds its own source address in
 * 127.0.0.0/8 (--src-base), so the server sees distinct clients and the local
 * port space never runs out. Prints one JSON object.
 *
 * Every reply is checked: 220 banner, 250 to EHLO/MAIL/RCPT, 221 to QUIT;
 * anything else, a reset or a per-session timeout counts as a failed session.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum stage { S_CONNECT, S_BANNER, S_EHLO, S_MAIL, S_RCPT, S_QUIT, S_STAGES };
static const char *stage_names[S_STAGES] = { "connect", "banner", "ehlo", "mail", "rcpt", "quit" };

struct conn {
	int fd;
	int stage;
	uint64_t n;
	uint64_t t0, t_banner;
	char buf[4096];
	size_t len;
};

static struct {
	const char *host;
	int port;
	long concurrency;
	long duration_ms;
	long warmup_ms;
	long timeout_ms;
	long max_sessions;
	uint32_t src_base;	/* host order; 0: let the kernel choose */
	uint64_t id_offset;
} opt = { "127.0.0.1", 2525, 10, 3000, 0, 30000, 100000000, 0, 0 };

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct vec { uint64_t *v; size_t n, cap; };
static void push(struct vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->v = realloc(a->v, a->cap * sizeof *a->v);
		if (!a->v) { perror("realloc"); exit(2); }
	}
	a->v[a->n++] = x;
}
static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
static double pct(struct vec *a, double p)
{
	if (!a->n) return 0;
	size_t k = (size_t)(p * (double)a->n);
	if ((double)k < p * (double)a->n) k++;
	return (double)a->v[k ? k - 1 : 0] / 1e6;
}

static int ep;
static struct conn *conns;
static uint64_t started, ok_total, ok_measured, failed;
static uint64_t fail_by_stage[S_STAGES];
static uint64_t win_start, win_stop;
static int window_open;
static struct vec lat_session, lat_banner;
static char first_failures[5][200];
static int n_fail_msgs;

static void note_fail(struct conn *c, const char *why, const char *line)
{
	failed++;
	fail_by_stage[c->stage]++;
	if (n_fail_msgs < 5)
		snprintf(first_failures[n_fail_msgs++], sizeof first_failures[0], "session %" PRIu64 " at %s: %s%s%.100s",
		    c->n, stage_names[c->stage], why, line ? ": " : "", line ? line : "");
}

static int open_conn(struct conn *c)
{
	c->n = opt.id_offset + started++;
	c->stage = S_CONNECT;
	c->len = 0;
	c->t0 = mono_ns();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) { perror("socket"); exit(2); }
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opt.src_base) {
		/* 127.x.y.z, skipping .0 and .255 in the last octet */
		uint64_t k = 254 + c->n % (254ull * 255ull);	/* from x.y.1.1: x.y.0.1 is the server */
		uint32_t addr = opt.src_base + (uint32_t)((k / 254) << 8) + (uint32_t)(k % 254 + 1);
		struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(addr) };
		setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
			perror("bind");
			exit(2);
		}
	}
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	inet_pton(AF_INET, opt.host, &dst.sin_addr);
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
		note_fail(c, strerror(errno), NULL);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void close_conn(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

static int send_line(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
	return w == (ssize_t)n ? 0 : -1;	/* a few dozen bytes into an empty socket buffer */
}

static void next_command(struct conn *c)
{
	char line[256];
	switch (c->stage) {
	case S_BANNER:
		snprintf(line, sizeof line, "EHLO mx%" PRIu64 ".load.example\r\n", c->n);
		c->stage = S_EHLO;
		break;
	case S_EHLO:
		snprintf(line, sizeof line, "MAIL FROM:<sender%" PRIu64 "@load%" PRIu64 ".example>\r\n", c->n, c->n % 1000);
		c->stage = S_MAIL;
		break;
	case S_MAIL:
		snprintf(line, sizeof line, "RCPT TO:<user%" PRIu64 "@bench.example>\r\n", c->n % 997);
		c->stage = S_RCPT;
		break;
	case S_RCPT:
		snprintf(line, sizeof line, "QUIT\r\n");
		c->stage = S_QUIT;
		break;
	default:
		return;
	}
	if (send_line(c, line) < 0) {
		note_fail(c, "send failed", NULL);
		close_conn(c);
	}
}

static void session_ok(struct conn *c)
{
	uint64_t now = mono_ns();
	ok_total++;
	/* throughput: sessions finished inside the fixed window; latency: sessions started in it */
	if (window_open && now <= win_stop)
		ok_measured++;
	if (c->t0 >= win_start && c->t0 < win_stop) {
		push(&lat_session, now - c->t0);
		push(&lat_banner, c->t_banner - c->t0);
	}
	close_conn(c);
}

/* One complete reply line; returns 1 when the reply (possibly multi-line) is complete. */
static void on_line(struct conn *c, const char *line)
{
	static const char *expect[S_STAGES] = { "", "220", "250", "250", "250", "221" };
	if (strlen(line) < 4 || strncmp(line, expect[c->stage], 3) != 0) {
		note_fail(c, "unexpected reply", line);
		close_conn(c);
		return;
	}
	if (line[3] == '-')
		return;	/* continuation */
	if (c->stage == S_BANNER)
		c->t_banner = mono_ns();
	if (c->stage == S_QUIT) {
		session_ok(c);
		return;
	}
	next_command(c);
}

static void on_readable(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);
		if (r == 0) {
			note_fail(c, "connection closed by server", NULL);
			close_conn(c);
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR) return;
			note_fail(c, strerror(errno), NULL);
			close_conn(c);
			return;
		}
		c->len += (size_t)r;
		char *start = c->buf, *nl;
		while (c->fd >= 0 && (nl = memchr(start, '\n', (size_t)(c->buf + c->len - start))) != NULL) {
			*nl = 0;
			if (nl > start && nl[-1] == '\r') nl[-1] = 0;
			on_line(c, start);
			start = nl + 1;
		}
		if (c->fd < 0) return;
		size_t rest = (size_t)(c->buf + c->len - start);
		memmove(c->buf, start, rest);
		c->len = rest;
		if (c->len >= sizeof c->buf - 1) {
			note_fail(c, "reply line too long", NULL);
			close_conn(c);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", 1, 0, 'h' }, { "port", 1, 0, 'p' }, { "concurrency", 1, 0, 'c' },
		{ "duration-ms", 1, 0, 'd' }, { "warmup-ms", 1, 0, 'w' }, { "timeout-ms", 1, 0, 't' },
		{ "sessions", 1, 0, 'n' }, { "src-base", 1, 0, 's' }, { "id-offset", 1, 0, 'i' },
		{ 0, 0, 0, 0 }
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.concurrency = atol(optarg); break;
		case 'd': opt.duration_ms = atol(optarg); break;
		case 'w': opt.warmup_ms = atol(optarg); break;
		case 't': opt.timeout_ms = atol(optarg); break;
		case 'n': opt.max_sessions = atol(optarg); break;
		case 's': {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1) { fprintf(stderr, "bad --src-base\n"); return 2; }
			opt.src_base = ntohl(a.s_addr) & 0xffff0000u;
			break;
		}
		case 'i': opt.id_offset = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: smtp-load [--host A] [--port P] [--concurrency N] [--duration-ms N] [--warmup-ms N]\n"
			    "                 [--timeout-ms N] [--sessions MAX] [--src-base 127.N.0.0] [--id-offset N]\n");
			return 2;
		}
	}
	if (opt.concurrency < 1 || opt.concurrency > 10000) return 2;
	ep = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc((size_t)opt.concurrency, sizeof *conns);
	for (long i = 0; i < opt.concurrency; i++) conns[i].fd = -1;

	uint64_t t_begin = mono_ns();
	win_start = t_begin + (uint64_t)opt.warmup_ms * 1000000ull;
	uint64_t t_stop = win_start + (uint64_t)opt.duration_ms * 1000000ull;
	win_stop = t_stop;
	uint64_t hard_stop = t_stop + (uint64_t)opt.timeout_ms * 1000000ull;
	uint64_t timed_out = 0;
	struct epoll_event evs[256];

	for (;;) {
		uint64_t now = mono_ns();
		if (!window_open && now >= win_start) window_open = 1;
		int active = 0;
		for (long i = 0; i < opt.concurrency; i++) {
			struct conn *c = &conns[i];
			if (c->fd >= 0 && now - c->t0 > (uint64_t)opt.timeout_ms * 1000000ull) {
				note_fail(c, "timed out", NULL);
				timed_out++;
				close_conn(c);
			}
			if (c->fd < 0 && now < t_stop && started < (uint64_t)opt.max_sessions)
				open_conn(c);
			if (c->fd >= 0) active++;
		}
		if (active == 0 || now >= hard_stop)
			break;
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0) continue;
			if (c->stage == S_CONNECT && (evs[i].events & EPOLLOUT)) {
				int err = 0;
				socklen_t l = sizeof err;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (err) {
					note_fail(c, strerror(err), NULL);
					close_conn(c);
					continue;
				}
				c->stage = S_BANNER;
				struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				on_readable(c);
		}
	}
	uint64_t t_end = mono_ns();
	uint64_t still = 0;
	for (long i = 0; i < opt.concurrency; i++)
		if (conns[i].fd >= 0) { still++; note_fail(&conns[i], "unfinished at hard stop", NULL); close_conn(&conns[i]); }

	double elapsed = (double)((t_end < t_stop ? t_end : t_stop) - win_start) / 1e9;
	qsort(lat_session.v, lat_session.n, sizeof *lat_session.v, cmp);
	qsort(lat_banner.v, lat_banner.n, sizeof *lat_banner.v, cmp);
	printf("{\n  \"ok\": %s,\n", failed == 0 ? "true" : "false");
	printf("  \"params\": {\"concurrency\": %ld, \"duration_ms\": %ld, \"warmup_ms\": %ld},\n",
	    opt.concurrency, opt.duration_ms, opt.warmup_ms);
	printf("  \"started\": %" PRIu64 ", \"ok_sessions\": %" PRIu64 ", \"measured\": %" PRIu64 ", \"failed\": %" PRIu64
	    ", \"timed_out\": %" PRIu64 ", \"unfinished\": %" PRIu64 ",\n", started, ok_total, ok_measured, failed, timed_out, still);
	printf("  \"failed_by_stage\": {");
	for (int i = 0; i < S_STAGES; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", stage_names[i], fail_by_stage[i]);
	printf("},\n  \"elapsed_s\": %.4f,\n", elapsed);
	printf("  \"sessions_per_s\": %.1f,\n", elapsed > 0 ? (double)ok_measured / elapsed : 0.0);
	printf("  \"session_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
	    pct(&lat_session, 0.5), pct(&lat_session, 0.99), lat_session.n ? (double)lat_session.v[lat_session.n - 1] / 1e6 : 0.0);
	printf("  \"banner_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
	    pct(&lat_banner, 0.5), pct(&lat_banner, 0.99), lat_banner.n ? (double)lat_banner.v[lat_banner.n - 1] / 1e6 : 0.0);
	printf("  \"first_failures\": [");
	for (int i = 0; i < n_fail_msgs; i++) {
		printf("%s\"", i ? ", " : "");
		for (const char *p = first_failures[i]; *p; p++) {
			if (*p == '"' || *p == '\\') putchar('\\');
			if ((unsigned char)*p >= 0x20) putchar(*p);
		}
		putchar('"');
	}
	printf("]\n}\n");
	(void)t_begin;
	return 0;
}
