/*
 * smtpd-sim: drives an OpenSMTPD filter exactly as smtpd 6.8 (protocol 0.6) does,
 * with many concurrent sessions multiplexed on the filter's one stdin/stdout
 * socket, and measures it.
 *
 * What it imitates (see /work/shared/protocol.md and the 6.8 transcripts):
 *   - the filter is started with `/bin/sh -c "exec CMD"`, stdin and stdout being
 *     the same AF_UNIX stream socket, stderr a second one, in its own session;
 *   - handshake: the five config lines, then register lines until register|ready,
 *     each validated; anything smtpd would die on is fatal here too;
 *   - per session, the report events and filter requests smtpd emits for a
 *     client doing EHLO, MAIL, RCPT xN, DATA, body, QUIT, but only the events
 *     and phases the filter registered (like smtpd, a phase it did not register
 *     proceeds at once and is never sent);
 *   - a session waits for each answer before its next request; data-line
 *     requests are streamed, and commit waits for the filter's final ".";
 *   - tokens are per phase, identical across sessions (they are chain-entry ids).
 *
 * Every answer is validated (session, token, decision, parameters, phase);
 * what makes smtpd exit is fatal here (exit status 3), what smtpd tolerates is
 * counted as an error. The result is one JSON object on stdout.
 *
 * One process, one poll() loop, hand-rolled formatting: it has to out-run the
 * C reference filter it is compared with. Its own CPU time is reported next to
 * the filter's so that can be checked in every run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ names */

enum phase {
	PH_CONNECT, PH_HELO, PH_EHLO, PH_STARTTLS, PH_AUTH, PH_MAIL_FROM,
	PH_RCPT_TO, PH_DATA, PH_DATA_LINE, PH_RSET, PH_QUIT, PH_NOOP, PH_HELP,
	PH_WIZ, PH_COMMIT, PH_COUNT
};
static const char *phase_names[PH_COUNT] = {
	"connect", "helo", "ehlo", "starttls", "auth", "mail-from", "rcpt-to",
	"data", "data-line", "rset", "quit", "noop", "help", "wiz", "commit"
};

enum event {
	EV_LINK_CONNECT, EV_LINK_DISCONNECT, EV_LINK_GREETING, EV_LINK_IDENTIFY,
	EV_LINK_TLS, EV_LINK_AUTH, EV_TX_RESET, EV_TX_BEGIN, EV_TX_MAIL,
	EV_TX_RCPT, EV_TX_ENVELOPE, EV_TX_DATA, EV_TX_COMMIT, EV_TX_ROLLBACK,
	EV_PROTOCOL_CLIENT, EV_PROTOCOL_SERVER, EV_FILTER_REPORT,
	EV_FILTER_RESPONSE, EV_TIMEOUT, EV_COUNT
};
static const char *event_names[EV_COUNT] = {
	"link-connect", "link-disconnect", "link-greeting", "link-identify",
	"link-tls", "link-auth", "tx-reset", "tx-begin", "tx-mail", "tx-rcpt",
	"tx-envelope", "tx-data", "tx-commit", "tx-rollback", "protocol-client",
	"protocol-server", "filter-report", "filter-response", "timeout"
};

enum decision { D_PROCEED, D_JUNK, D_REJECT, D_DISCONNECT, D_REWRITE, D_COUNT };
static const char *decision_names[D_COUNT] = {
	"proceed", "junk", "reject", "disconnect", "rewrite"
};

/* Session script position: what the client does next. */
enum state {
	ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_BODY, ST_COMMIT,
	ST_QUIT, ST_DONE
};

/* ---------------------------------------------------------------- options */

static struct {
	const char *filter_cmd;
	const char *user;
	long sessions;
	long concurrency;
	long warmup;
	int rcpts;
	int body_lines;
	int no_data;
	long think_ms;
	long ramp_ms;
	long connect_due_ms;
	long deadline_ms;
	long duration_ms;
	long stall_ms;
	long handshake_ms;
	long linger_ms;
	uint64_t id_offset;
	uint64_t seed;
	const char *protocol;
	const char *smtpd_version;
	const char *admd;
	int handshake_only;
	int keep_going;
	const char *filter_log;
	/* reload */
	long reload_at_ms;
	const char *reload_from;
	const char *reload_to;
	int reload_write;
	int detect_phase;
	int detect_decision;
	long reload_window_ms;
	int ipv6_every;
	int quiet;
} opt = {
	.sessions = 1000, .concurrency = 50, .rcpts = 1, .body_lines = 5,
	.deadline_ms = 300000, .stall_ms = 30000, .handshake_ms = 30000,
	.linger_ms = 100, .protocol = "0.6", .smtpd_version = "6.8.0p2",
	.admd = "bench.example", .reload_at_ms = -1, .detect_phase = -1,
	.detect_decision = -1, .reload_window_ms = 2000,
};

/* ------------------------------------------------------------------ clock */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char ts_str[32];
static size_t ts_len;

/* smtpd stamps each line with the wall clock, "%lld.%06ld". One stamp per loop turn. */
static void ts_refresh(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts_len = (size_t)snprintf(ts_str, sizeof ts_str, "%lld.%06ld",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000);
}

/* ---------------------------------------------------------------- buffers */

struct buf { char *p; size_t off, len, cap; };

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + extra <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		perror("smtpd-sim: realloc");
		exit(2);
	}
	b->p = p;
	b->cap = cap;
}

static struct buf out;	/* towards the filter */

static inline void ob_mem(const char *s, size_t n)
{
	buf_reserve(&out, n);
	memcpy(out.p + out.len, s, n);
	out.len += n;
}
static inline void ob_str(const char *s) { ob_mem(s, strlen(s)); }
static inline void ob_ch(char c) { buf_reserve(&out, 1); out.p[out.len++] = c; }
static inline void ob_hex(uint64_t v, int digits)
{
	static const char hx[] = "0123456789abcdef";
	buf_reserve(&out, (size_t)digits);
	for (int i = digits - 1; i >= 0; i--) {
		out.p[out.len + (size_t)i] = hx[v & 15];
		v >>= 4;
	}
	out.len += (size_t)digits;
}
static inline void ob_u64(uint64_t v)
{
	char tmp[24];
	int n = 0;
	do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
	buf_reserve(&out, (size_t)n);
	while (n)
		out.p[out.len++] = tmp[--n];
}

/* --------------------------------------------------------------- numbers */

struct u64vec { uint64_t *v; size_t n, cap; };

static void vec_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4096;
		a->v = realloc(a->v, a->cap * sizeof *a->v);
		if (a->v == NULL) {
			perror("smtpd-sim: realloc");
			exit(2);
		}
	}
	a->v[a->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* xorshift64*: good enough for ids. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* ----------------------------------------------------------------- state */

struct sess {
	uint64_t sid;
	uint64_t n;		/* global session number: drives the unique addresses */
	uint64_t sent_ns;	/* when the awaited request (or the final data-line ".") was queued */
	uint64_t start_ns;
	uint32_t gen;
	uint32_t msgid;
	uint8_t active;
	uint8_t state;
	int8_t awaiting;	/* phase of the outstanding request, or -1 */
	uint8_t measured;	/* started inside the measuring window */
	uint8_t in_tx;
	uint8_t junk;
	uint8_t dl_open;	/* data-line stream open (filter has not sent its ".") */
	uint8_t dl_dot_sent;
	uint16_t rcpt_i, rcpt_ok;
	uint32_t dl_back;	/* data lines the filter sent back */
	uint64_t size;
};

static struct sess *slots;
static long *free_slots;
static long n_free;
static uint64_t sid_prefix;	/* 20 bits */
static uint64_t tokens[PH_COUNT];

static int reg_filter[PH_COUNT];
static int reg_report[EV_COUNT];
static int reg_report_all;
static int reg_smtp_out;

static int sock = -1, errsock = -1;
static pid_t child = -1;
static int child_exited;
static int child_status;

/* think-time queue: due times are non-decreasing (constant think), so a FIFO. */
struct tq { long slot; uint32_t gen; uint8_t state; uint64_t due; };
static struct tq *tq;
static long tq_head, tq_len;

static struct {
	long started, completed, measured_completed;
	uint64_t requests, answers, measured_requests;
	uint64_t dataline_sent, dataline_back;
	uint64_t decisions[PH_COUNT][D_COUNT];
	uint64_t report_lines;
	uint64_t err_total;
	uint64_t err_unknown_session, err_stale_answer, err_invalid_reply,
	    err_rewrite_phase, err_unanswered, err_early_dot, err_fatal;
	uint64_t window_start_ns, last_end_ns, first_start_ns;
	int window_open;
	uint64_t last_answer_ns;
	struct u64vec lat[PH_COUNT];
	struct u64vec lateness;	/* connect answer time minus due time */
	struct u64vec lat_all;
	uint64_t stderr_lines;
	long peak_rss_kb;
} st;

static char first_errors[10][420];
static int n_first_errors;
static char fatal_msg[512];
static int fatal_hit;

/* reload measurement */
static struct {
	int done;
	uint64_t save_ns;
	uint64_t first_new_ns;
	uint64_t max_lat_during_ns;	/* answers received in [save, save+window) */
	uint64_t max_lat_before_ns;	/* answers received in [save-window, save) */
	uint64_t answers_during;
	uint64_t stale_after;	/* old-rules answers in sessions started after first_new */
	uint64_t new_answers;
	char error[256];
} rl;

/* filter stderr tail, for diagnostics */
static char err_tail[30][256];
static int err_tail_n, err_tail_pos;
static FILE *filter_log;
static struct buf errbuf;
static struct buf in;

/* --------------------------------------------------------------- errors */

static void note_error(uint64_t *counter, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (counter)
		(*counter)++;
	st.err_total++;
	if (n_first_errors < 10)
		snprintf(first_errors[n_first_errors++], sizeof first_errors[0], "%s", msg);
	if (!opt.quiet && st.err_total <= 10)
		fprintf(stderr, "smtpd-sim: error: %s\n", msg);
}

/* Something smtpd 6.8 would exit on. Unless --keep-going, the run stops. */
static void fatal(const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	st.err_fatal++;
	st.err_total++;
	if (!fatal_hit) {
		snprintf(fatal_msg, sizeof fatal_msg, "%s", msg);
		fatal_hit = 1;
	}
	if (n_first_errors < 10)
		snprintf(first_errors[n_first_errors++], sizeof first_errors[0], "fatal: %s", msg);
	fprintf(stderr, "smtpd-sim: FATAL (smtpd would exit): %s\n", msg);
}

static int stopping(void) { return fatal_hit && !opt.keep_going; }

/* ------------------------------------------------------------- addresses */

/*
 * Each session gets its own client address, PTR name, HELO, sender and
 * recipients, derived from its global number n (offset by --id-offset so
 * repeated runs make new greylisting triplets). 10.0.0.0/8 is used for IPv4,
 * 2001:db8::/32 for IPv6; none of it is in the bench rules' trusted list.
 */
static void put_ip(uint64_t n, int bracket)
{
	if (opt.ipv6_every > 0 && n % (uint64_t)opt.ipv6_every == 0) {
		if (bracket) ob_ch('[');
		ob_str("2001:db8:");
		ob_hex((n >> 16) & 0xffff, 4);
		ob_ch(':');
		ob_hex(n & 0xffff, 4);
		ob_str("::25");
		if (bracket) ob_ch(']');
		return;
	}
	uint64_t v = n % 16777214u + 1;
	ob_str("10.");
	ob_u64((v >> 16) & 255);
	ob_ch('.');
	ob_u64((v >> 8) & 255);
	ob_ch('.');
	ob_u64(v & 255);
}

static int has_rdns(uint64_t n) { return n % 20 != 7; }

static void put_rdns(uint64_t n)
{
	if (!has_rdns(n)) {
		ob_str("<unknown>");
		return;
	}
	ob_str("mail");
	ob_u64(n % 7 + 1);
	ob_str(".sender");
	ob_u64(n);
	ob_str(".example");
}
static void put_helo(uint64_t n)
{
	ob_str("mx");
	ob_u64(n % 3 + 1);
	ob_str(".sender");
	ob_u64(n);
	ob_str(".example");
}
static void put_sender(uint64_t n)
{
	ob_str("newsletter+");
	ob_u64(n);
	ob_str("@sender");
	ob_u64(n);
	ob_str(".example");
}
static void put_rcpt(uint64_t n, int i)
{
	ob_str("user");
	ob_u64(n % 997);
	if (i) {
		ob_ch('-');
		ob_u64((uint64_t)i);
	}
	ob_str("@bench.example");
}

/* ---------------------------------------------------------- line emitters */

static int want(int ev) { return reg_report_all || reg_report[ev]; }

static void rep_begin(struct sess *s, int ev)
{
	ob_str("report|");
	ob_str(opt.protocol);
	ob_ch('|');
	ob_mem(ts_str, ts_len);
	ob_str("|smtp-in|");
	ob_str(event_names[ev]);
	ob_ch('|');
	ob_hex(s->sid, 16);
	st.report_lines++;
}

static void rep_simple(struct sess *s, int ev, const char *param)
{
	if (!want(ev))
		return;
	rep_begin(s, ev);
	if (param) {
		ob_ch('|');
		ob_str(param);
	}
	ob_ch('\n');
}

static void rep_msgid(struct sess *s, int ev, const char *tail)
{
	if (!want(ev))
		return;
	rep_begin(s, ev);
	ob_ch('|');
	ob_hex(s->msgid, 8);
	if (tail) {
		ob_ch('|');
		ob_str(tail);
	}
	ob_ch('\n');
}

static void req_begin(struct sess *s, int ph)
{
	ob_str("filter|");
	ob_str(opt.protocol);
	ob_ch('|');
	ob_mem(ts_str, ts_len);
	ob_str("|smtp-in|");
	ob_str(phase_names[ph]);
	ob_ch('|');
	ob_hex(s->sid, 16);
	ob_ch('|');
	ob_hex(tokens[ph], 16);
	ob_ch('|');
}

static void req_end(struct sess *s, int ph)
{
	ob_ch('\n');
	s->awaiting = (int8_t)ph;
	s->sent_ns = mono_ns();
	st.requests++;
	if (s->measured)
		st.measured_requests++;
}

static void server_reply(struct sess *s, const char *reply)
{
	rep_simple(s, EV_PROTOCOL_SERVER, reply);
}

/* --------------------------------------------------------- session script */

static void step(struct sess *s);
static void resolve(struct sess *s, int ph, int d, const char *param, size_t plen);

static void finish(struct sess *s)
{
	rep_simple(s, EV_LINK_DISCONNECT, NULL);
	uint64_t now = mono_ns();
	st.completed++;
	if (s->measured) {
		st.measured_completed++;
		st.last_end_ns = now;
	}
	s->active = 0;
	s->state = ST_DONE;
	s->awaiting = -1;
	free_slots[n_free++] = s - slots;
	if (!st.window_open && st.completed >= opt.warmup) {
		st.window_open = 1;
		st.window_start_ns = now;
	}
}

static void go(struct sess *s, int next)
{
	s->state = (uint8_t)next;
	if (next == ST_DONE) {
		finish(s);
		return;
	}
	if (opt.think_ms > 0 && next != ST_COMMIT) {
		struct tq *e = &tq[(tq_head + tq_len) % opt.concurrency];
		e->slot = s - slots;
		e->gen = s->gen;
		e->state = s->state;
		e->due = mono_ns() + (uint64_t)opt.think_ms * 1000000ull;
		tq_len++;
		return;
	}
	step(s);
}

static void end_tx(struct sess *s)
{
	if (!s->in_tx)
		return;
	rep_msgid(s, EV_TX_ROLLBACK, NULL);
	rep_msgid(s, EV_TX_RESET, NULL);
	s->in_tx = 0;
}

static const char *body_line(int i, char *tmp, size_t cap, uint64_t n)
{
	/* Realistic-ish: headers, blank line, text with a dot-stuffed line and a pipe. */
	switch (i) {
	case 0: snprintf(tmp, cap, "From: Newsletter <newsletter+%" PRIu64 "@sender%" PRIu64 ".example>", n, n); break;
	case 1: snprintf(tmp, cap, "To: user%" PRIu64 "@bench.example", n % 997); break;
	case 2: snprintf(tmp, cap, "Subject: benchmark message %" PRIu64, n); break;
	case 3: snprintf(tmp, cap, "Message-Id: <%" PRIu64 ".bench@sender%" PRIu64 ".example>", n, n); break;
	case 4: snprintf(tmp, cap, "%s", ""); break;
	default:
		if (i % 7 == 5)
			snprintf(tmp, cap, "..a line that starts with a dot | and has a pipe");
		else
			snprintf(tmp, cap, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, line %d.", i);
	}
	return tmp;
}

static void send_dataline(struct sess *s, const char *line)
{
	req_begin(s, PH_DATA_LINE);
	ob_str(line);
	ob_ch('\n');
	st.dataline_sent++;
}

static void step(struct sess *s)
{
	char tmp[512];
	switch ((enum state)s->state) {
	case ST_CONNECT:
		s->start_ns = mono_ns();
		if (want(EV_LINK_CONNECT)) {
			rep_begin(s, EV_LINK_CONNECT);
			ob_ch('|');
			put_rdns(s->n);
			ob_str(has_rdns(s->n) ? "|pass|" : "|fail|");
			put_ip(s->n, 1);
			ob_ch(':');
			ob_u64(1024 + s->n % 60000);
			ob_str("|203.0.113.25:25\n");
		}
		if (reg_filter[PH_CONNECT]) {
			req_begin(s, PH_CONNECT);
			put_rdns(s->n);
			ob_ch('|');
			put_ip(s->n, 1);
			req_end(s, PH_CONNECT);
		} else
			resolve(s, PH_CONNECT, D_PROCEED, NULL, 0);
		return;
	case ST_HELO:
		if (want(EV_PROTOCOL_CLIENT)) {
			rep_begin(s, EV_PROTOCOL_CLIENT);
			ob_str("|EHLO ");
			put_helo(s->n);
			ob_ch('\n');
		}
		if (reg_filter[PH_EHLO]) {
			req_begin(s, PH_EHLO);
			put_helo(s->n);
			req_end(s, PH_EHLO);
		} else
			resolve(s, PH_EHLO, D_PROCEED, NULL, 0);
		return;
	case ST_MAIL:
		if (want(EV_PROTOCOL_CLIENT)) {
			rep_begin(s, EV_PROTOCOL_CLIENT);
			ob_str("|MAIL FROM:<");
			put_sender(s->n);
			ob_str("> BODY=8BITMIME\n");
		}
		if (reg_filter[PH_MAIL_FROM]) {
			req_begin(s, PH_MAIL_FROM);
			put_sender(s->n);
			req_end(s, PH_MAIL_FROM);
		} else
			resolve(s, PH_MAIL_FROM, D_PROCEED, NULL, 0);
		return;
	case ST_RCPT:
		if (want(EV_PROTOCOL_CLIENT)) {
			rep_begin(s, EV_PROTOCOL_CLIENT);
			ob_str("|RCPT TO:<");
			put_rcpt(s->n, s->rcpt_i);
			ob_str(">\n");
		}
		if (reg_filter[PH_RCPT_TO]) {
			req_begin(s, PH_RCPT_TO);
			put_rcpt(s->n, s->rcpt_i);
			req_end(s, PH_RCPT_TO);
		} else
			resolve(s, PH_RCPT_TO, D_PROCEED, NULL, 0);
		return;
	case ST_DATA:
		if (s->rcpt_ok == 0) {	/* every RCPT refused: the client gives up */
			go(s, ST_QUIT);
			return;
		}
		rep_simple(s, EV_PROTOCOL_CLIENT, "DATA");
		if (reg_filter[PH_DATA]) {
			req_begin(s, PH_DATA);
			req_end(s, PH_DATA);
		} else
			resolve(s, PH_DATA, D_PROCEED, NULL, 0);
		return;
	case ST_BODY:
		/* Only with data-line registered: the client's lines, then its ".". */
		for (int i = 0; i < opt.body_lines; i++)
			send_dataline(s, body_line(i, tmp, sizeof tmp, s->n));
		send_dataline(s, ".");
		s->dl_dot_sent = 1;
		s->awaiting = PH_DATA_LINE;
		s->sent_ns = mono_ns();
		st.requests++;
		if (s->measured)
			st.measured_requests++;
		return;
	case ST_COMMIT:
		rep_simple(s, EV_PROTOCOL_CLIENT, ".");
		if (reg_filter[PH_COMMIT]) {
			req_begin(s, PH_COMMIT);
			req_end(s, PH_COMMIT);
		} else
			resolve(s, PH_COMMIT, D_PROCEED, NULL, 0);
		return;
	case ST_QUIT:
		rep_simple(s, EV_PROTOCOL_CLIENT, "QUIT");
		if (reg_filter[PH_QUIT]) {
			req_begin(s, PH_QUIT);
			req_end(s, PH_QUIT);
		} else
			resolve(s, PH_QUIT, D_PROCEED, NULL, 0);
		return;
	case ST_DONE:
		return;
	}
}

/* True when the reply passes smtpd's valid_smtp_response + 4/5 check. */
static int reply_ok(const char *p, size_t n)
{
	if (n < 5)
		return 0;
	if (p[0] != '4' && p[0] != '5')
		return 0;
	if (p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return 0;
	return p[3] == ' ';
}

static void resolve(struct sess *s, int ph, int d, const char *param, size_t plen)
{
	char reply[1024];
	if (param) {
		size_t k = plen < sizeof reply - 1 ? plen : sizeof reply - 1;
		memcpy(reply, param, k);
		reply[k] = 0;
	} else
		reply[0] = 0;

	if (d == D_REJECT || d == D_DISCONNECT) {
		if (!reply_ok(reply, strlen(reply))) {
			note_error(&st.err_invalid_reply,
			    "session %016" PRIx64 " %s: %s with an invalid SMTP reply \"%.80s\" (smtpd sends 421 and disconnects)",
			    s->sid, phase_names[ph], decision_names[d], reply);
			snprintf(reply, sizeof reply, "421 Internal server error");
			d = D_DISCONNECT;
		} else if (d == D_REJECT && strncmp(reply, "421", 3) == 0)
			d = D_DISCONNECT;	/* smtpd turns a 421 reject into a disconnect */
	}

	if (want(EV_FILTER_RESPONSE)) {
		rep_begin(s, EV_FILTER_RESPONSE);
		ob_ch('|');
		ob_str(ph == PH_CONNECT ? "connected" : phase_names[ph]);
		ob_ch('|');
		ob_str(decision_names[d]);
		if (d == D_REJECT || d == D_DISCONNECT || d == D_REWRITE) {
			ob_ch('|');
			ob_str(reply);
		}
		ob_ch('\n');
	}

	if (d == D_DISCONNECT) {
		server_reply(s, reply);
		if (ph == PH_RCPT_TO && want(EV_TX_RCPT)) {
			rep_begin(s, EV_TX_RCPT);
			ob_ch('|');
			ob_hex(s->msgid, 8);
			ob_str("|tempfail|");
			put_rcpt(s->n, s->rcpt_i);
			ob_ch('\n');
		}
		end_tx(s);
		go(s, ST_DONE);
		return;
	}

	switch (ph) {
	case PH_CONNECT:
		if (d == D_REJECT) {
			/* smtpd sends the reply instead of the banner; our client then hangs up. */
			server_reply(s, reply);
			go(s, ST_DONE);
			return;
		}
		if (d == D_JUNK)
			s->junk = 1;
		server_reply(s, "220 bench.example ESMTP OpenSMTPD");
		rep_simple(s, EV_LINK_GREETING, "bench.example");
		go(s, ST_HELO);
		return;
	case PH_HELO:
	case PH_EHLO:
		if (d == D_REJECT) {
			server_reply(s, reply);
			go(s, ST_QUIT);
			return;
		}
		if (d == D_JUNK)
			s->junk = 1;
		if (want(EV_LINK_IDENTIFY)) {
			rep_begin(s, EV_LINK_IDENTIFY);
			ob_str("|EHLO|");
			if (d == D_REWRITE)
				ob_str(reply);
			else
				put_helo(s->n);
			ob_ch('\n');
		}
		if (want(EV_PROTOCOL_SERVER)) {
			rep_begin(s, EV_PROTOCOL_SERVER);
			ob_str("|250-bench.example Hello ");
			put_helo(s->n);
			ob_str(" [");
			put_ip(s->n, 0);
			ob_str("], pleased to meet you\n");
			server_reply(s, "250-8BITMIME");
			server_reply(s, "250-ENHANCEDSTATUSCODES");
			server_reply(s, "250-SIZE 36700160");
			server_reply(s, "250-DSN");
			server_reply(s, "250 HELP");
		}
		go(s, ST_MAIL);
		return;
	case PH_MAIL_FROM:
		if (d == D_REJECT) {
			server_reply(s, reply);
			go(s, ST_QUIT);
			return;
		}
		if (d == D_JUNK)
			s->junk = 1;	/* no transaction yet: session-level */
		s->msgid = (uint32_t)rnd();
		s->in_tx = 1;
		s->rcpt_i = 0;
		s->rcpt_ok = 0;
		server_reply(s, "250 2.0.0 Ok");
		rep_msgid(s, EV_TX_BEGIN, NULL);
		if (want(EV_TX_MAIL)) {
			rep_begin(s, EV_TX_MAIL);
			ob_ch('|');
			ob_hex(s->msgid, 8);
			ob_str("|ok|");
			put_sender(s->n);	/* reports keep the client's original, even after a rewrite */
			ob_ch('\n');
		}
		go(s, ST_RCPT);
		return;
	case PH_RCPT_TO: {
		int ok = d != D_REJECT;
		if (ok) {
			s->rcpt_ok++;
			if (want(EV_TX_ENVELOPE)) {
				rep_begin(s, EV_TX_ENVELOPE);
				ob_ch('|');
				ob_hex(s->msgid, 8);
				ob_ch('|');
				ob_hex(s->msgid, 8);
				ob_hex(rnd() & 0xffffffffu, 8);
				ob_ch('\n');
			}
			server_reply(s, "250 2.1.5 Destination address valid: Recipient ok");
		} else
			server_reply(s, reply);
		if (want(EV_TX_RCPT)) {
			rep_begin(s, EV_TX_RCPT);
			ob_ch('|');
			ob_hex(s->msgid, 8);
			ob_str(ok ? "|ok|" : reply[0] == '4' ? "|tempfail|" : "|permfail|");
			put_rcpt(s->n, s->rcpt_i);
			ob_ch('\n');
		}
		s->rcpt_i++;
		if (s->rcpt_i < opt.rcpts)
			go(s, ST_RCPT);
		else if (opt.no_data || s->rcpt_ok == 0)
			go(s, ST_QUIT);
		else
			go(s, ST_DATA);
		return;
	}
	case PH_DATA:
		if (d == D_REJECT) {
			server_reply(s, reply);
			rep_msgid(s, EV_TX_DATA, reply[0] == '4' ? "tempfail" : "permfail");
			go(s, ST_QUIT);
			return;
		}
		s->size = 0;
		if (reg_filter[PH_DATA_LINE]) {
			/* smtpd's own lines go through the filter first, then the 354. */
			char tmp[256];
			s->dl_open = 1;
			s->dl_dot_sent = 0;
			s->dl_back = 0;
			s->awaiting = PH_DATA_LINE;
			if (s->junk)
				send_dataline(s, "X-Spam: Yes");
			snprintf(tmp, sizeof tmp, "Received: from mx1.sender%" PRIu64 ".example (mail1.sender%" PRIu64 ".example [10.0.0.1])", s->n, s->n);
			send_dataline(s, tmp);
			send_dataline(s, "\tby bench.example (OpenSMTPD) with ESMTP id 0badc0de");
			snprintf(tmp, sizeof tmp, "\tfor <user%" PRIu64 "@bench.example>;", s->n % 997);
			send_dataline(s, tmp);
			send_dataline(s, "\tWed, 25 Nov 2026 19:35:26 +0000 (UTC)");
			server_reply(s, "354 Enter mail, end with \".\" on a line by itself");
			rep_msgid(s, EV_TX_DATA, "ok");
			go(s, ST_BODY);
			return;
		}
		server_reply(s, "354 Enter mail, end with \".\" on a line by itself");
		rep_msgid(s, EV_TX_DATA, "ok");
		{
			char tmp[512];
			for (int i = 0; i < opt.body_lines; i++)
				s->size += strlen(body_line(i, tmp, sizeof tmp, s->n)) + 1;
			s->size += 200;
		}
		if (opt.think_ms > 0) {
			/* The client takes its think time to send the body, then ".". */
			s->state = ST_COMMIT;
			struct tq *e = &tq[(tq_head + tq_len) % opt.concurrency];
			e->slot = s - slots;
			e->gen = s->gen;
			e->state = s->state;
			e->due = mono_ns() + (uint64_t)opt.think_ms * 1000000ull;
			tq_len++;
			return;
		}
		go(s, ST_COMMIT);
		return;
	case PH_COMMIT:
		if (d == D_REJECT) {
			server_reply(s, reply);
			end_tx(s);
			go(s, ST_QUIT);
			return;
		}
		if (want(EV_PROTOCOL_SERVER)) {
			rep_begin(s, EV_PROTOCOL_SERVER);
			ob_str("|250 2.0.0 ");
			ob_hex(s->msgid, 8);
			ob_str(" Message accepted for delivery\n");
		}
		if (want(EV_TX_COMMIT)) {
			rep_begin(s, EV_TX_COMMIT);
			ob_ch('|');
			ob_hex(s->msgid, 8);
			ob_ch('|');
			ob_u64(s->size);
			ob_ch('\n');
		}
		rep_msgid(s, EV_TX_RESET, NULL);
		s->in_tx = 0;
		go(s, ST_QUIT);
		return;
	case PH_QUIT:
		server_reply(s, "221 2.0.0 Bye");
		end_tx(s);
		go(s, ST_DONE);
		return;
	default:
		return;
	}
}

/* ------------------------------------------------------- starting sessions */

static void start_session(void)
{
	long slot = free_slots[--n_free];
	struct sess *s = &slots[slot];
	uint32_t gen = s->gen + 1;
	if (gen >= (1u << 24))
		gen = 1;
	memset(s, 0, sizeof *s);
	s->gen = gen;
	s->sid = (sid_prefix << 44) | ((uint64_t)slot << 24) | gen;
	s->n = opt.id_offset + (uint64_t)st.started;
	s->active = 1;
	s->awaiting = -1;
	s->measured = st.window_open;
	s->state = ST_CONNECT;
	st.started++;
	if (st.started == 1)
		st.first_start_ns = mono_ns();
	step(s);
}

/* --------------------------------------------------------- answer handling */

static int parse_hex16(const char *p, size_t n, uint64_t *v)
{
	if (n != 16)
		return 0;
	uint64_t x = 0;
	for (size_t i = 0; i < 16; i++) {
		char c = p[i];
		int d;
		if (c >= '0' && c <= '9') d = c - '0';
		else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
		else return 0;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 1;
}

/* The session an answer is for, or NULL (after counting the error). */
static struct sess *find_session(uint64_t sid, const char *line)
{
	uint64_t slot = (sid >> 24) & 0xfffff;
	uint32_t gen = (uint32_t)(sid & 0xffffff);
	if ((sid >> 44) != sid_prefix || slot >= (uint64_t)opt.concurrency) {
		note_error(&st.err_unknown_session,
		    "answer for a session smtpd never had (smtpd ignores it; the real session would wait forever): %.120s", line);
		return NULL;
	}
	struct sess *s = &slots[slot];
	if (!s->active || s->gen != gen) {
		note_error(&st.err_stale_answer,
		    "answer for a session that already ended: a second answer to one request (%.120s)", line);
		return NULL;
	}
	return s;
}

static void record_latency(struct sess *s, int ph, uint64_t now)
{
	uint64_t lat = now > s->sent_ns ? now - s->sent_ns : 0;
	st.answers++;
	st.last_answer_ns = now;
	if (s->measured && st.window_open) {
		vec_push(&st.lat[ph], lat);
		vec_push(&st.lat_all, lat);
		if (ph == PH_CONNECT && opt.connect_due_ms >= 0) {
			uint64_t due = (uint64_t)opt.connect_due_ms * 1000000ull;
			vec_push(&st.lateness, lat > due ? lat - due : 0);
		}
	}
	if (rl.save_ns) {
		uint64_t w = (uint64_t)opt.reload_window_ms * 1000000ull;
		if (now >= rl.save_ns && now < rl.save_ns + w) {
			rl.answers_during++;
			if (lat > rl.max_lat_during_ns)
				rl.max_lat_during_ns = lat;
		}
	} else if (opt.reload_at_ms >= 0 && st.window_open && lat > rl.max_lat_before_ns)
		rl.max_lat_before_ns = lat;	/* same load, before the save: the baseline */
}

static void reload_observe(struct sess *s, int ph, int d, uint64_t now)
{
	if (!rl.save_ns || ph != opt.detect_phase)
		return;
	if (d == opt.detect_decision) {
		rl.new_answers++;
		if (!rl.first_new_ns)
			rl.first_new_ns = now;
	} else if (rl.first_new_ns && s->start_ns > rl.first_new_ns)
		rl.stale_after++;
}

static void handle_result(const char *line, size_t n, uint64_t now)
{
	/* filter-result|SID|TOKEN|DECISION[|PARAM] */
	const char *p = line + 14, *end = line + n;
	const char *f[3];
	size_t fl[3];
	for (int i = 0; i < 3; i++) {
		const char *bar = i < 2 ? memchr(p, '|', (size_t)(end - p)) : NULL;
		if (i < 2 && bar == NULL) {
			fatal("Missing parameter in filter-result: %.200s", line);
			return;
		}
		f[i] = p;
		fl[i] = i < 2 ? (size_t)(bar - p) : (size_t)(end - p);
		p = i < 2 ? bar + 1 : end;
	}
	uint64_t sid, tok;
	if (!parse_hex16(f[0], fl[0], &sid) || !parse_hex16(f[1], fl[1], &tok)) {
		fatal("Invalid session or token in filter-result: %.200s", line);
		return;
	}
	/* decision and optional parameter */
	const char *dp = f[2];
	size_t dn = fl[2];
	const char *bar = memchr(dp, '|', dn);
	const char *param = NULL;
	size_t plen = 0;
	size_t namelen = bar ? (size_t)(bar - dp) : dn;
	if (bar) {
		param = bar + 1;
		plen = dn - namelen - 1;
	}
	int d = -1;
	for (int i = 0; i < D_COUNT; i++)
		if (strlen(decision_names[i]) == namelen && memcmp(decision_names[i], dp, namelen) == 0)
			d = i;
	if (d < 0) {
		fatal("Invalid directive in filter-result: %.200s", line);
		return;
	}
	if ((d == D_PROCEED || d == D_JUNK) && param) {
		fatal("Unexpected parameter after %s: %.200s", decision_names[d], line);
		return;
	}
	if ((d == D_REJECT || d == D_DISCONNECT || d == D_REWRITE) && (!param || plen == 0)) {
		fatal("Missing parameter for %s: %.200s", decision_names[d], line);
		return;
	}
	struct sess *s = find_session(sid, line);
	if (!s)
		return;
	if (s->awaiting < 0) {
		fatal("filter-result for a session with no pending request (second answer; dispatcher tree_xpop): %.200s", line);
		return;
	}
	if (s->awaiting == PH_DATA_LINE || s->dl_open) {
		fatal("filter-result in dataline phase: %.200s", line);
		return;
	}
	int ph = s->awaiting;
	if (tok != tokens[ph]) {
		fatal("misbehaving filter: token %.16s is not the %s token for session %016" PRIx64, f[1], phase_names[ph], s->sid);
		return;
	}
	if (d == D_JUNK && ph == PH_COMMIT) {
		fatal("filter-reponse junk after DATA (junk at commit): %.200s", line);
		return;
	}
	if (d == D_REWRITE && !(ph == PH_CONNECT || ph == PH_HELO || ph == PH_EHLO ||
	    ph == PH_MAIL_FROM || ph == PH_RCPT_TO || ph == PH_AUTH)) {
		note_error(&st.err_rewrite_phase, "rewrite at %s (not a rewritable phase): %.120s", phase_names[ph], line);
		d = D_PROCEED;
		param = NULL;
	}
	record_latency(s, ph, now);
	st.decisions[ph][d]++;
	reload_observe(s, ph, d, now);
	s->awaiting = -1;
	resolve(s, ph, d, param, plen);
}

static void handle_dataline(const char *line, size_t n, uint64_t now)
{
	/* filter-dataline|SID|TOKEN|LINE */
	const char *p = line + 16, *end = line + n;
	const char *b1 = memchr(p, '|', (size_t)(end - p));
	const char *b2 = b1 ? memchr(b1 + 1, '|', (size_t)(end - b1 - 1)) : NULL;
	if (!b1 || !b2) {
		fatal("Missing parameter in filter-dataline: %.200s", line);
		return;
	}
	uint64_t sid, tok;
	if (!parse_hex16(p, (size_t)(b1 - p), &sid) || !parse_hex16(b1 + 1, (size_t)(b2 - b1 - 1), &tok)) {
		fatal("Invalid session or token in filter-dataline: %.200s", line);
		return;
	}
	struct sess *s = find_session(sid, line);
	if (!s)
		return;
	if (!s->dl_open) {
		fatal("filter-dataline out of dataline phase: %.200s", line);
		return;
	}
	if (tok != tokens[PH_DATA_LINE]) {
		fatal("misbehaving filter: token is not the data-line token: %.200s", line);
		return;
	}
	const char *text = b2 + 1;
	size_t tl = (size_t)(end - text);
	st.dataline_back++;
	s->dl_back++;
	if (tl == 1 && text[0] == '.') {
		if (!s->dl_dot_sent)
			note_error(&st.err_early_dot,
			    "session %016" PRIx64 ": filter ended the message before the client's \".\" (smtpd drops the rest of the body)", s->sid);
		s->dl_open = 0;
		record_latency(s, PH_DATA_LINE, now);
		st.decisions[PH_DATA_LINE][D_PROCEED]++;
		s->awaiting = -1;
		go(s, ST_COMMIT);
		return;
	}
	s->size += tl + 1;
}

static void handle_line(const char *line, size_t n, uint64_t now)
{
	if (memchr(line, '\r', n)) {
		fatal("line from the filter contains \\r (smtpd: Missing parameter / Invalid ...): %.200s", line);
		return;
	}
	if (n >= 14 && memcmp(line, "filter-result|", 14) == 0)
		handle_result(line, n, now);
	else if (n >= 16 && memcmp(line, "filter-dataline|", 16) == 0)
		handle_dataline(line, n, now);
	else if (n >= 7 && memcmp(line, "report|", 7) == 0)
		fatal("report line from the filter (fatal on 6.8): %.200s", line);
	else if (n >= 9 && memcmp(line, "register|", 9) == 0)
		fatal("register line after register|ready: %.200s", line);
	else
		fatal("Invalid filter message type: %.200s", line);
}

/* ------------------------------------------------------------ filter I/O */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void spawn_filter(void)
{
	int sv[2], ev[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, ev) < 0) {
		perror("smtpd-sim: socketpair");
		exit(2);
	}
	int sz = 4 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	struct passwd *pw = NULL;
	if (opt.user && (pw = getpwnam(opt.user)) == NULL) {
		fprintf(stderr, "smtpd-sim: unknown user %s\n", opt.user);
		exit(2);
	}
	child = fork();
	if (child < 0) {
		perror("smtpd-sim: fork");
		exit(2);
	}
	if (child == 0) {
		/* as smtpd's fork_filter_process: same socket on 0 and 1, stderr apart, own session */
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		dup2(ev[1], 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		if (pw) {
			if (setgroups(1, &pw->pw_gid) || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
			    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid)) {
				perror("smtpd-sim: dropping privileges");
				_exit(1);
			}
		}
		setsid();
		signal(SIGPIPE, SIG_DFL);
		char *cmd;
		if (asprintf(&cmd, "exec %s", opt.filter_cmd) < 0)
			_exit(1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		perror("smtpd-sim: exec /bin/sh");
		_exit(1);
	}
	close(sv[1]);
	close(ev[1]);
	sock = sv[0];
	errsock = ev[0];
	set_nonblock(sock);
	set_nonblock(errsock);
}

static void stderr_line(const char *line, size_t n)
{
	st.stderr_lines++;
	if (filter_log) {
		fwrite(line, 1, n, filter_log);
		fputc('\n', filter_log);
	}
	size_t k = n < 255 ? n : 255;
	memcpy(err_tail[err_tail_pos], line, k);
	err_tail[err_tail_pos][k] = 0;
	err_tail_pos = (err_tail_pos + 1) % 30;
	if (err_tail_n < 30)
		err_tail_n++;
}

static void drain_stderr(void)
{
	for (;;) {
		buf_reserve(&errbuf, 65536);
		ssize_t r = read(errsock, errbuf.p + errbuf.len, errbuf.cap - errbuf.len);
		if (r <= 0)
			break;
		errbuf.len += (size_t)r;
		char *q;
		while ((q = memchr(errbuf.p + errbuf.off, '\n', errbuf.len - errbuf.off)) != NULL) {
			stderr_line(errbuf.p + errbuf.off, (size_t)(q - (errbuf.p + errbuf.off)));
			errbuf.off = (size_t)(q - errbuf.p) + 1;
		}
		if (errbuf.off == errbuf.len)
			errbuf.off = errbuf.len = 0;
	}
}

static void print_stderr_tail(void)
{
	if (err_tail_n == 0)
		return;
	fprintf(stderr, "smtpd-sim: last %d line(s) of the filter's stderr:\n", err_tail_n);
	for (int i = 0; i < err_tail_n; i++) {
		int k = (err_tail_pos - err_tail_n + i + 30) % 30;
		fprintf(stderr, "  | %s\n", err_tail[k]);
	}
}

static int flush_out(void)
{
	while (out.off < out.len) {
		ssize_t w = write(sock, out.p + out.off, out.len - out.off);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		out.off += (size_t)w;
	}
	out.off = out.len = 0;
	return 0;
}

static int check_child(void)
{
	if (child_exited)
		return 1;
	int status;
	pid_t r = waitpid(child, &status, WNOHANG);
	if (r == child) {
		child_exited = 1;
		child_status = status;
		return 1;
	}
	return 0;
}

static void describe_status(char *b, size_t n, int status)
{
	if (WIFEXITED(status))
		snprintf(b, n, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(b, n, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(b, n, "status %d", status);
}

/* ------------------------------------------------------------- handshake */

static int find_name(const char *const *names, int count, const char *p, size_t n)
{
	for (int i = 0; i < count; i++)
		if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0)
			return i;
	return -1;
}

/* Returns 1 on register|ready, 0 to go on, -1 on a fatal line. */
static int handle_register(const char *line, size_t n)
{
	if (memchr(line, '\r', n)) {
		fatal("register line contains \\r: %.200s", line);
		return -1;
	}
	if (n < 9 || memcmp(line, "register|", 9) != 0) {
		fatal("Non-register message before register|ready: %.200s", line);
		return -1;
	}
	const char *p = line + 9;
	size_t rest = n - 9;
	if (rest == 5 && memcmp(p, "ready", 5) == 0)
		return 1;
	/* register|report|SUBSYSTEM|EVENT or register|filter|SUBSYSTEM|PHASE */
	const char *b1 = memchr(p, '|', rest);
	const char *b2 = b1 ? memchr(b1 + 1, '|', (size_t)(line + n - b1 - 1)) : NULL;
	if (!b1 || !b2 || memchr(b2 + 1, '|', (size_t)(line + n - b2 - 1))) {
		fatal("Invalid register line received: %.200s", line);
		return -1;
	}
	size_t kl = (size_t)(b1 - p), sl = (size_t)(b2 - b1 - 1), nl = (size_t)(line + n - b2 - 1);
	const char *sub = b1 + 1, *name = b2 + 1;
	int is_report = kl == 6 && memcmp(p, "report", 6) == 0;
	int is_filter = kl == 6 && memcmp(p, "filter", 6) == 0;
	if (!is_report && !is_filter) {
		fatal("Invalid register line received: %.200s", line);
		return -1;
	}
	int in = sl == 7 && (is_filter ? strncasecmp(sub, "smtp-in", 7) == 0 : memcmp(sub, "smtp-in", 7) == 0);
	int outd = sl == 8 && (is_filter ? strncasecmp(sub, "smtp-out", 8) == 0 : memcmp(sub, "smtp-out", 8) == 0);
	if (!in && !outd) {
		fatal("Invalid message direction: %.200s", line);
		return -1;
	}
	if (is_report) {
		if (nl == 1 && name[0] == '*') {
			if (in) reg_report_all = 1;
			return 0;
		}
		int ev = find_name(event_names, EV_COUNT, name, nl);
		if (ev < 0) {
			fatal("Unrecognized report name: %.*s", (int)nl, name);
			return -1;
		}
		if (in) reg_report[ev] = 1;
		else reg_smtp_out = 1;
		return 0;
	}
	int ph = find_name(phase_names, PH_COUNT, name, nl);
	if (ph < 0) {
		fatal("Unrecognized report name: %.*s (unknown filter phase)", (int)nl, name);
		return -1;
	}
	if (in) reg_filter[ph] = 1;
	else reg_smtp_out = 1;
	return 0;
}

static double handshake_ms_taken;

static int handshake(void)
{
	uint64_t t0 = mono_ns();
	/* exactly what 6.8.0p2 sends; 7.6+ adds config|protocol right after the version */
	ob_str("config|smtpd-version|"); ob_str(opt.smtpd_version); ob_ch('\n');
	if (strcmp(opt.protocol, "0.6") != 0) {
		ob_str("config|protocol|"); ob_str(opt.protocol); ob_ch('\n');
	}
	ob_str("config|smtp-session-timeout|300\n");
	ob_str("config|subsystem|smtp-in\n");
	ob_str("config|admd|"); ob_str(opt.admd); ob_ch('\n');
	ob_str("config|ready\n");
	uint64_t deadline = t0 + (uint64_t)opt.handshake_ms * 1000000ull;
	for (;;) {
		if (flush_out() < 0) {
			fatal("lost processor: cannot write to the filter during the handshake (%s)", strerror(errno));
			return -1;
		}
		uint64_t now = mono_ns();
		if (now >= deadline) {
			fatal("no register|ready within %ld ms: smtpd would hang forever (no banner, no timeout)", opt.handshake_ms);
			return -1;
		}
		struct pollfd pf[2] = {
			{ .fd = sock, .events = POLLIN | (out.len > out.off ? POLLOUT : 0) },
			{ .fd = errsock, .events = POLLIN },
		};
		int to = (int)((deadline - now) / 1000000ull) + 1;
		if (to > 100) to = 100;
		poll(pf, 2, to);
		if (pf[1].revents)
			drain_stderr();
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			buf_reserve(&in, 65536);
			ssize_t r = read(sock, in.p + in.len, in.cap - in.len);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				for (int i = 0; i < 50 && !check_child(); i++)
					usleep(10000);
				drain_stderr();
				char why[64] = "still running";
				if (child_exited)
					describe_status(why, sizeof why, child_status);
				fatal("lost processor: the filter closed its end during the handshake (%s)", why);
				return -1;
			}
			if (r > 0)
				in.len += (size_t)r;
			char *q;
			while ((q = memchr(in.p + in.off, '\n', in.len - in.off)) != NULL) {
				char *line = in.p + in.off;
				size_t n = (size_t)(q - line);
				*q = 0;
				in.off += n + 1;
				int rc = handle_register(line, n);
				if (rc < 0)
					return -1;
				if (rc == 1) {
					handshake_ms_taken = (double)(mono_ns() - t0) / 1e6;
					if (in.off < in.len) {
						/* a line right after ready, before any request: smtpd treats it as a response */
						q = memchr(in.p + in.off, '\n', in.len - in.off);
						if (q) {
							*q = 0;
							handle_line(in.p + in.off, (size_t)(q - (in.p + in.off)), mono_ns());
							return -1;
						}
					}
					return 0;
				}
			}
		}
		if (check_child()) {
			drain_stderr();
			char why[64];
			describe_status(why, sizeof why, child_status);
			fatal("lost processor: the filter exited during the handshake (%s)", why);
			return -1;
		}
	}
}

/* ------------------------------------------------------------- /proc */

static long proc_status_kb(const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)child);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* utime+stime of the filter, in seconds */
static double proc_cpu_s(void)
{
	char path[64], b[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, b, sizeof b - 1);
	close(fd);
	if (r <= 0)
		return -1;
	b[r] = 0;
	char *p = strrchr(b, ')');
	if (!p)
		return -1;
	/* fields after ")": state(3) ... utime(14) stime(15) */
	unsigned long ut = 0, stt = 0;
	int field = 2;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
		field++;
		if (field == 14) ut = strtoul(tok, NULL, 10);
		if (field == 15) { stt = strtoul(tok, NULL, 10); break; }
	}
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------- reload */

static void do_reload(void)
{
	rl.done = 1;
	int rc;
	if (opt.reload_write) {
		/* in-place save, as many editors do: truncate and write */
		FILE *src = fopen(opt.reload_from, "r");
		FILE *dst = src ? fopen(opt.reload_to, "w") : NULL;
		rc = src && dst ? 0 : -1;
		if (rc == 0) {
			char b[8192];
			size_t k;
			while ((k = fread(b, 1, sizeof b, src)) > 0)
				fwrite(b, 1, k, dst);
		}
		if (src) fclose(src);
		if (dst && fclose(dst) != 0) rc = -1;
	} else
		rc = rename(opt.reload_from, opt.reload_to);	/* atomic save */
	if (rc != 0) {
		snprintf(rl.error, sizeof rl.error, "saving %s: %s", opt.reload_to, strerror(errno));
		fprintf(stderr, "smtpd-sim: reload: %s\n", rl.error);
		return;
	}
	rl.save_ns = mono_ns();
	if (!opt.quiet)
		fprintf(stderr, "smtpd-sim: saved new rules to %s\n", opt.reload_to);
}

/* ------------------------------------------------------------- output */

/* nearest-rank percentile index: the smallest value with at least p of the sample at or below it */
static size_t rank(double p, size_t n)
{
	size_t k = (size_t)(p * (double)n);
	if ((double)k < p * (double)n)
		k++;
	return k > 0 ? k - 1 : 0;
}

struct pct { size_t n; double p50, p90, p99, p999, max, mean; };

static struct pct percentiles(struct u64vec *a)
{
	struct pct r = { 0 };
	if (a->n == 0)
		return r;
	qsort(a->v, a->n, sizeof *a->v, cmp_u64);
	r.n = a->n;
	double sum = 0;
	for (size_t i = 0; i < a->n; i++)
		sum += (double)a->v[i];
	r.p50 = (double)a->v[rank(0.50, a->n)] / 1000.0;
	r.p90 = (double)a->v[rank(0.90, a->n)] / 1000.0;
	r.p99 = (double)a->v[rank(0.99, a->n)] / 1000.0;
	r.p999 = (double)a->v[rank(0.999, a->n)] / 1000.0;
	r.max = (double)a->v[a->n - 1] / 1000.0;
	r.mean = sum / (double)a->n / 1000.0;
	return r;
}

static void json_pct(const char *name, struct u64vec *a, int comma)
{
	struct pct r = percentiles(a);
	printf("    \"%s\": {\"n\": %zu, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f, \"mean\": %.1f}%s\n",
	    name, r.n, r.p50, r.p90, r.p99, r.p999, r.max, r.mean, comma ? "," : "");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') { putchar('\\'); putchar(c); }
		else if (c < 0x20) printf("\\u%04x", c);
		else putchar(c);
	}
	putchar('"');
}

static void print_registration(void)
{
	printf("  \"registered\": {\"filter\": [");
	int k = 0;
	for (int i = 0; i < PH_COUNT; i++)
		if (reg_filter[i])
			printf("%s\"%s\"", k++ ? ", " : "", phase_names[i]);
	printf("], \"report\": [");
	k = 0;
	if (reg_report_all)
		printf("\"*\""), k++;
	for (int i = 0; i < EV_COUNT; i++)
		if (reg_report[i])
			printf("%s\"%s\"", k++ ? ", " : "", event_names[i]);
	printf("], \"smtp_out\": %s},\n", reg_smtp_out ? "true" : "false");
}

/* ------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr,
	    "usage: smtpd-sim [options] --filter 'COMMAND ARGS'\n"
	    "  --sessions N          sessions to run (1000)\n"
	    "  --concurrency N       sessions in flight at once (50)\n"
	    "  --warmup N            sessions completed before measuring starts (0)\n"
	    "  --rcpts N             recipients per session (1)\n"
	    "  --body-lines N        message lines sent through data-line when registered (5)\n"
	    "  --no-data             EHLO/MAIL/RCPT/QUIT sessions, no DATA\n"
	    "  --think-ms N          client pause before each command (0)\n"
	    "  --ramp-ms N           start the first `concurrency` sessions evenly over N ms (0)\n"
	    "  --connect-due-ms N    expected connect delay (a pause): report lateness\n"
	    "  --duration-ms N       stop starting sessions N ms into the measured window\n"
	    "                        (--sessions is then an upper bound)\n"
	    "  --deadline-ms N       give up after N ms (300000)\n"
	    "  --stall-ms N          give up when nothing was answered for N ms (30000)\n"
	    "  --handshake-ms N      wait this long for register|ready (30000)\n"
	    "  --linger-ms N         watch for extra answers after the last session (100)\n"
	    "  --id-offset N         first session number for addresses (0)\n"
	    "  --seed N              random seed (session ids, tokens, msgids)\n"
	    "  --protocol V          0.6 (smtpd 6.8, default) or 0.7 (adds config|protocol)\n"
	    "  --smtpd-version S     (6.8.0p2)\n"
	    "  --user NAME           run the filter as NAME, as smtpd does\n"
	    "  --ipv6-every N        every Nth session comes from IPv6 (0: never)\n"
	    "  --handshake-only      print what the filter registered and exit\n"
	    "  --keep-going          count fatal errors instead of stopping\n"
	    "  --filter-log FILE     write the filter's stderr to FILE\n"
	    "  --reload-at-ms N --reload-from F --reload-to F [--reload-write]\n"
	    "  --reload-detect PHASE:DECISION [--reload-window-ms N]\n"
	    "                        N ms into the measured window, save F over the rules\n"
	    "                        file (rename, or in-place write) and time until an answer\n"
	    "                        with DECISION at PHASE shows the new rules in force\n"
	    "  --quiet\n");
	exit(2);
}

int main(int argc, char **argv)
{
	enum { O_FILTER = 1000, O_SESSIONS, O_CONC, O_WARMUP, O_RCPTS, O_BODY, O_NODATA,
		O_THINK, O_RAMP, O_DUE, O_DEADLINE, O_DURATION, O_STALL, O_HS, O_LINGER, O_IDOFF, O_SEED,
		O_PROTO, O_VERSION, O_USER, O_HSONLY, O_KEEP, O_LOG, O_RAT, O_RFROM,
		O_RTO, O_RWRITE, O_RDETECT, O_RWINDOW, O_V6, O_QUIET, O_HELP };
	static const struct option lo[] = {
		{ "filter", 1, 0, O_FILTER }, { "sessions", 1, 0, O_SESSIONS },
		{ "concurrency", 1, 0, O_CONC }, { "warmup", 1, 0, O_WARMUP },
		{ "rcpts", 1, 0, O_RCPTS }, { "body-lines", 1, 0, O_BODY },
		{ "no-data", 0, 0, O_NODATA }, { "think-ms", 1, 0, O_THINK },
		{ "ramp-ms", 1, 0, O_RAMP },
		{ "connect-due-ms", 1, 0, O_DUE }, { "deadline-ms", 1, 0, O_DEADLINE },
		{ "duration-ms", 1, 0, O_DURATION },
		{ "stall-ms", 1, 0, O_STALL }, { "handshake-ms", 1, 0, O_HS },
		{ "linger-ms", 1, 0, O_LINGER }, { "id-offset", 1, 0, O_IDOFF },
		{ "seed", 1, 0, O_SEED }, { "protocol", 1, 0, O_PROTO },
		{ "smtpd-version", 1, 0, O_VERSION }, { "user", 1, 0, O_USER },
		{ "handshake-only", 0, 0, O_HSONLY }, { "keep-going", 0, 0, O_KEEP },
		{ "filter-log", 1, 0, O_LOG }, { "reload-at-ms", 1, 0, O_RAT },
		{ "reload-from", 1, 0, O_RFROM }, { "reload-to", 1, 0, O_RTO },
		{ "reload-write", 0, 0, O_RWRITE }, { "reload-detect", 1, 0, O_RDETECT },
		{ "reload-window-ms", 1, 0, O_RWINDOW }, { "ipv6-every", 1, 0, O_V6 },
		{ "quiet", 0, 0, O_QUIET }, { "help", 0, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	opt.connect_due_ms = -1;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_FILTER: opt.filter_cmd = optarg; break;
		case O_SESSIONS: opt.sessions = atol(optarg); break;
		case O_CONC: opt.concurrency = atol(optarg); break;
		case O_WARMUP: opt.warmup = atol(optarg); break;
		case O_RCPTS: opt.rcpts = atoi(optarg); break;
		case O_BODY: opt.body_lines = atoi(optarg); break;
		case O_NODATA: opt.no_data = 1; break;
		case O_THINK: opt.think_ms = atol(optarg); break;
		case O_RAMP: opt.ramp_ms = atol(optarg); break;
		case O_DUE: opt.connect_due_ms = atol(optarg); break;
		case O_DEADLINE: opt.deadline_ms = atol(optarg); break;
		case O_DURATION: opt.duration_ms = atol(optarg); break;
		case O_STALL: opt.stall_ms = atol(optarg); break;
		case O_HS: opt.handshake_ms = atol(optarg); break;
		case O_LINGER: opt.linger_ms = atol(optarg); break;
		case O_IDOFF: opt.id_offset = strtoull(optarg, NULL, 10); break;
		case O_SEED: opt.seed = strtoull(optarg, NULL, 10); break;
		case O_PROTO: opt.protocol = optarg; break;
		case O_VERSION: opt.smtpd_version = optarg; break;
		case O_USER: opt.user = optarg; break;
		case O_HSONLY: opt.handshake_only = 1; break;
		case O_KEEP: opt.keep_going = 1; break;
		case O_LOG: opt.filter_log = optarg; break;
		case O_RAT: opt.reload_at_ms = atol(optarg); break;
		case O_RFROM: opt.reload_from = optarg; break;
		case O_RTO: opt.reload_to = optarg; break;
		case O_RWRITE: opt.reload_write = 1; break;
		case O_RDETECT: {
			char *colon = strchr(optarg, ':');
			if (!colon) usage();
			*colon = 0;
			opt.detect_phase = find_name(phase_names, PH_COUNT, optarg, strlen(optarg));
			opt.detect_decision = find_name(decision_names, D_COUNT, colon + 1, strlen(colon + 1));
			if (opt.detect_phase < 0 || opt.detect_decision < 0) usage();
			break;
		}
		case O_RWINDOW: opt.reload_window_ms = atol(optarg); break;
		case O_V6: opt.ipv6_every = atoi(optarg); break;
		case O_QUIET: opt.quiet = 1; break;
		default: usage();
		}
	}
	if (!opt.filter_cmd || opt.sessions < 1 || opt.concurrency < 1 || opt.concurrency > 1000000 ||
	    opt.rcpts < 1 || opt.rcpts > 1000 || opt.body_lines < 0 || opt.warmup < 0 ||
	    opt.warmup >= opt.sessions)
		usage();
	if (strcmp(opt.protocol, "0.6") != 0 && strcmp(opt.protocol, "0.7") != 0)
		usage();
	if (strcmp(opt.protocol, "0.7") == 0 && strcmp(opt.smtpd_version, "6.8.0p2") == 0)
		opt.smtpd_version = "7.6.0";
	if (opt.reload_at_ms >= 0 && (!opt.reload_from || !opt.reload_to || opt.detect_phase < 0))
		usage();

	signal(SIGPIPE, SIG_IGN);
	rng_state = opt.seed ? opt.seed * 0x9e3779b97f4a7c15ull : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ mono_ns();
	if (!rng_state) rng_state = 88172645463325252ull;
	sid_prefix = (rnd() & 0xfffff) | 0x80000;
	for (int i = 0; i < PH_COUNT; i++)
		tokens[i] = rnd() | 0x1000000000000000ull;
	if (opt.filter_log && (filter_log = fopen(opt.filter_log, "w")) == NULL) {
		perror(opt.filter_log);
		return 2;
	}
	ts_refresh();
	spawn_filter();

	int rc = handshake();
	if (opt.handshake_only || rc < 0) {
		printf("{\n  \"ok\": %s,\n", rc == 0 ? "true" : "false");
		printf("  \"fatal\": ");
		if (fatal_hit) json_str(fatal_msg); else printf("null");
		printf(",\n  \"handshake_ms\": %.1f,\n", handshake_ms_taken);
		print_registration();
		printf("  \"pid\": %d\n}\n", (int)child);
		if (rc < 0)
			print_stderr_tail();
		close(sock);
		for (int i = 0; i < 300 && !check_child(); i++) { drain_stderr(); usleep(10000); }
		if (!child_exited) { kill(-child, SIGKILL); waitpid(child, NULL, 0); }
		return rc < 0 ? 3 : 0;
	}

	slots = calloc((size_t)opt.concurrency, sizeof *slots);
	free_slots = malloc((size_t)opt.concurrency * sizeof *free_slots);
	tq = malloc((size_t)opt.concurrency * sizeof *tq);
	if (!slots || !free_slots || !tq) {
		perror("smtpd-sim: malloc");
		return 2;
	}
	for (long i = opt.concurrency - 1; i >= 0; i--)
		free_slots[n_free++] = i;

	uint64_t t_begin = mono_ns();
	uint64_t deadline = t_begin + (uint64_t)opt.deadline_ms * 1000000ull;
	uint64_t last_rss_poll = 0;
	double cpu_f0 = -1, cpu_s0 = -1;
	const char *stop_reason = NULL;
	st.last_answer_ns = t_begin;
	if (opt.warmup == 0) {
		st.window_open = 1;
		st.window_start_ns = t_begin;
	}

	for (;;) {
		uint64_t now = mono_ns();
		ts_refresh();
		if (st.window_open && cpu_f0 < 0) {
			cpu_f0 = proc_cpu_s();
			cpu_s0 = self_cpu_s();
		}
		/* sessions whose think time is over */
		while (tq_len > 0 && tq[tq_head].due <= now) {
			struct tq e = tq[tq_head];
			tq_head = (tq_head + 1) % opt.concurrency;
			tq_len--;
			struct sess *s = &slots[e.slot];
			/* the session may have moved on meanwhile (a filter ending data-line early) */
			if (s->active && s->gen == e.gen && s->state == e.state)
				step(s);
		}
		/* closed loop: keep `concurrency` sessions in flight */
		int starting = st.started < opt.sessions && !stopping() &&
		    !(opt.duration_ms > 0 && st.window_open &&
		      now >= st.window_start_ns + (uint64_t)opt.duration_ms * 1000000ull);
		long allowed = opt.concurrency;
		if (opt.ramp_ms > 0 && now < t_begin + (uint64_t)opt.ramp_ms * 1000000ull)
			/* spread the first sessions over the ramp, so think times do not move in lock-step */
			allowed = 1 + (long)((double)opt.concurrency * (double)(now - t_begin) / ((double)opt.ramp_ms * 1e6));
		while (n_free > 0 && starting && st.started < opt.sessions &&
		    opt.concurrency - n_free < allowed)
			start_session();
		if (!starting && opt.sessions > st.started)
			opt.sessions = st.started;	/* duration over: finish what is in flight */
		if (opt.reload_at_ms >= 0 && !rl.done && st.window_open &&
		    now >= st.window_start_ns + (uint64_t)opt.reload_at_ms * 1000000ull) {
			do_reload();
		}
		if (flush_out() < 0) {
			fatal("lost processor: write to the filter failed (%s)", strerror(errno));
			break;
		}
		if (stopping()) { stop_reason = "fatal"; break; }
		if (st.completed >= opt.sessions && tq_len == 0) { stop_reason = "done"; break; }
		if (now >= deadline) { stop_reason = "deadline"; break; }
		if (now - st.last_answer_ns > (uint64_t)opt.stall_ms * 1000000ull && tq_len == 0) {
			stop_reason = "stalled";
			break;
		}
		if (now - last_rss_poll > 100000000ull) {
			long rss = proc_status_kb("VmRSS");
			if (rss > st.peak_rss_kb) st.peak_rss_kb = rss;
			last_rss_poll = now;
			if (check_child()) {
				char why[64];
				describe_status(why, sizeof why, child_status);
				fatal("lost processor: the filter exited mid-run (%s)", why);
				stop_reason = "filter exited";
				break;
			}
		}

		int timeout = 100;
		if (opt.ramp_ms > 0 && now < t_begin + (uint64_t)opt.ramp_ms * 1000000ull)
			timeout = 1;
		if (tq_len > 0) {
			uint64_t due = tq[tq_head].due;
			int t = due > now ? (int)((due - now + 999999) / 1000000) : 0;
			if (t < timeout) timeout = t;
		}
		if (opt.reload_at_ms >= 0 && !rl.done && st.window_open) {
			uint64_t at = st.window_start_ns + (uint64_t)opt.reload_at_ms * 1000000ull;
			int t = at > now ? (int)((at - now + 999999) / 1000000) : 0;
			if (t < timeout) timeout = t;
		}
		struct pollfd pf[2] = {
			{ .fd = sock, .events = POLLIN | (out.len > out.off ? POLLOUT : 0) },
			{ .fd = errsock, .events = POLLIN },
		};
		int pr = poll(pf, 2, timeout);
		if (pr < 0 && errno != EINTR) {
			perror("smtpd-sim: poll");
			break;
		}
		if (pf[1].revents)
			drain_stderr();
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int eof = 0;
			for (int rounds = 0; rounds < 8; rounds++) {
				buf_reserve(&in, 1 << 20);
				size_t avail = in.cap - in.len;
				ssize_t r = read(sock, in.p + in.len, avail);
				if (r == 0) { eof = 1; break; }
				if (r < 0) {
					if (errno != EAGAIN && errno != EINTR) eof = 1;
					break;
				}
				in.len += (size_t)r;
				uint64_t rnow = mono_ns();
				char *q;
				while ((q = memchr(in.p + in.off, '\n', in.len - in.off)) != NULL) {
					char *line = in.p + in.off;
					size_t n = (size_t)(q - line);
					*q = 0;
					in.off += n + 1;
					handle_line(line, n, rnow);
					if (stopping()) break;
				}
				if (in.off == in.len) in.off = in.len = 0;
				if (stopping() || (size_t)r < avail) break;
			}
			if (eof) {
				for (int i = 0; i < 50 && !check_child(); i++) usleep(10000);
				drain_stderr();
				char why[64] = "closed its socket";
				if (child_exited) describe_status(why, sizeof why, child_status);
				fatal("lost processor: the filter went away mid-run (%s)", why);
				stop_reason = "filter exited";
				break;
			}
		}
		if ((pf[0].revents & POLLHUP) && check_child()) {
			drain_stderr();
			char why[64];
			describe_status(why, sizeof why, child_status);
			fatal("lost processor: the filter exited mid-run (%s)", why);
			stop_reason = "filter exited";
			break;
		}
	}

	/* Anything still waiting for an answer is an error. */
	for (long i = 0; i < opt.concurrency; i++) {
		struct sess *s = &slots[i];
		if (s->active && s->awaiting >= 0)
			note_error(&st.err_unanswered, "session %016" PRIx64 ": %s request never answered (stop: %s)",
			    s->sid, phase_names[(int)s->awaiting], stop_reason ? stop_reason : "?");
	}

	/* CPU and memory over the measured run, before lingering and shutting down. */
	double cpu_f1 = child_exited ? -1 : proc_cpu_s();
	double cpu_s1 = self_cpu_s();
	long vmhwm = child_exited ? -1 : proc_status_kb("VmHWM");
	long rss_now = child_exited ? -1 : proc_status_kb("VmRSS");
	if (rss_now > st.peak_rss_kb) st.peak_rss_kb = rss_now;
	uint64_t t_end = mono_ns();

	/* Linger: a second answer to anything would show up now. */
	if (!fatal_hit && !child_exited) {
		uint64_t until = mono_ns() + (uint64_t)opt.linger_ms * 1000000ull;
		while (mono_ns() < until) {
			struct pollfd pf = { .fd = sock, .events = POLLIN };
			if (poll(&pf, 1, 10) > 0) {
				buf_reserve(&in, 65536);
				ssize_t r = read(sock, in.p + in.len, in.cap - in.len);
				if (r <= 0) break;
				in.len += (size_t)r;
				char *q;
				while ((q = memchr(in.p + in.off, '\n', in.len - in.off)) != NULL) {
					char *line = in.p + in.off;
					size_t n = (size_t)(q - line);
					*q = 0;
					in.off += n + 1;
					handle_line(line, n, mono_ns());
				}
			}
			drain_stderr();
		}
	}

	/* smtpd shutting down: the filter gets EOF and must exit by itself. */
	close(sock);
	int exited_by_itself = 0;
	uint64_t exit_wait_start = mono_ns();
	for (int i = 0; i < 500 && !check_child(); i++) {
		drain_stderr();
		usleep(10000);
	}
	double exit_ms = (double)(mono_ns() - exit_wait_start) / 1e6;
	if (child_exited)
		exited_by_itself = 1;
	else {
		kill(-child, SIGTERM);
		for (int i = 0; i < 200 && !check_child(); i++) usleep(10000);
		if (!child_exited) {
			kill(-child, SIGKILL);
			waitpid(child, &child_status, 0);
			child_exited = 1;
		}
	}
	drain_stderr();
	if (filter_log) fclose(filter_log);

	uint64_t wstart = st.window_start_ns ? st.window_start_ns : t_begin;
	uint64_t wend = st.last_end_ns > wstart ? st.last_end_ns : t_end;
	double elapsed = (double)(wend - wstart) / 1e9;
	double wall = (double)(t_end - wstart) / 1e9;
	double fcpu = cpu_f0 >= 0 && cpu_f1 >= 0 ? cpu_f1 - cpu_f0 : -1;
	double scpu = cpu_s0 >= 0 ? cpu_s1 - cpu_s0 : -1;
	int ok = !fatal_hit && st.err_total == 0 && st.completed == opt.sessions;

	printf("{\n");
	printf("  \"ok\": %s,\n", ok ? "true" : "false");
	printf("  \"stop\": \"%s\",\n", stop_reason ? stop_reason : "?");
	printf("  \"fatal\": ");
	if (fatal_hit) json_str(fatal_msg); else printf("null");
	printf(",\n  \"handshake_ms\": %.1f,\n", handshake_ms_taken);
	print_registration();
	printf("  \"params\": {\"duration_ms\": %ld, \"sessions\": %ld, \"concurrency\": %ld, \"warmup\": %ld, \"rcpts\": %d, \"body_lines\": %d, \"no_data\": %s, \"think_ms\": %ld, \"ramp_ms\": %ld, \"protocol\": \"%s\"},\n",
	    opt.duration_ms, opt.sessions, opt.concurrency, opt.warmup, opt.rcpts, opt.body_lines, opt.no_data ? "true" : "false", opt.think_ms, opt.ramp_ms, opt.protocol);
	printf("  \"sessions\": {\"started\": %ld, \"completed\": %ld, \"measured\": %ld},\n",
	    st.started, st.completed, st.measured_completed);
	printf("  \"requests\": %" PRIu64 ", \"answers\": %" PRIu64 ", \"measured_requests\": %" PRIu64 ",\n",
	    st.requests, st.answers, st.measured_requests);
	printf("  \"report_lines\": %" PRIu64 ", \"dataline_sent\": %" PRIu64 ", \"dataline_back\": %" PRIu64 ",\n",
	    st.report_lines, st.dataline_sent, st.dataline_back);
	printf("  \"elapsed_s\": %.4f,\n", elapsed);
	printf("  \"sessions_per_s\": %.1f,\n", elapsed > 0 ? (double)st.measured_completed / elapsed : 0.0);
	printf("  \"requests_per_s\": %.1f,\n", elapsed > 0 ? (double)st.lat_all.n / elapsed : 0.0);
	printf("  \"latency_us\": {\n");
	for (int i = 0; i < PH_COUNT; i++)
		if (st.lat[i].n)
			json_pct(phase_names[i], &st.lat[i], 1);
	json_pct("all", &st.lat_all, 0);
	printf("  },\n");
	if (opt.connect_due_ms >= 0) {
		struct pct r = percentiles(&st.lateness);
		printf("  \"connect_lateness_ms\": {\"due_ms\": %ld, \"n\": %zu, \"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
		    opt.connect_due_ms, r.n, r.p50 / 1000, r.p99 / 1000, r.max / 1000);
	}
	printf("  \"decisions\": {");
	int k = 0;
	for (int i = 0; i < PH_COUNT; i++) {
		int any = 0;
		for (int d = 0; d < D_COUNT; d++) any |= st.decisions[i][d] != 0;
		if (!any) continue;
		printf("%s\"%s\": {", k++ ? ", " : "", phase_names[i]);
		int j = 0;
		for (int d = 0; d < D_COUNT; d++)
			if (st.decisions[i][d])
				printf("%s\"%s\": %" PRIu64, j++ ? ", " : "", decision_names[d], st.decisions[i][d]);
		printf("}");
	}
	printf("},\n");
	printf("  \"errors\": {\"total\": %" PRIu64 ", \"fatal\": %" PRIu64 ", \"unknown_session\": %" PRIu64
	    ", \"stale_answer\": %" PRIu64 ", \"invalid_reply\": %" PRIu64 ", \"rewrite_phase\": %" PRIu64
	    ", \"early_dot\": %" PRIu64 ", \"unanswered\": %" PRIu64 ", \"first\": [",
	    st.err_total, st.err_fatal, st.err_unknown_session, st.err_stale_answer, st.err_invalid_reply,
	    st.err_rewrite_phase, st.err_early_dot, st.err_unanswered);
	for (int i = 0; i < n_first_errors; i++) {
		if (i) printf(", ");
		json_str(first_errors[i]);
	}
	printf("]},\n");
	if (opt.reload_at_ms >= 0) {
		printf("  \"reload\": {\"saved\": %s, \"error\": ", rl.save_ns ? "true" : "false");
		if (rl.error[0]) json_str(rl.error); else printf("null");
		if (rl.first_new_ns)
			printf(", \"in_force_ms\": %.3f", (double)(rl.first_new_ns - rl.save_ns) / 1e6);
		else
			printf(", \"in_force_ms\": null");
		printf(", \"new_answers\": %" PRIu64 ", \"stale_after\": %" PRIu64 ", \"answers_during\": %" PRIu64
		    ", \"max_latency_during_ms\": %.3f, \"max_latency_before_ms\": %.3f, \"window_ms\": %ld},\n",
		    rl.new_answers, rl.stale_after, rl.answers_during, (double)rl.max_lat_during_ns / 1e6,
		    (double)rl.max_lat_before_ns / 1e6, opt.reload_window_ms);
	}
	char why[64] = "";
	describe_status(why, sizeof why, child_status);
	printf("  \"filter\": {\"pid\": %d, \"vmhwm_kb\": %ld, \"peak_rss_kb\": %ld, \"cpu_s\": %.3f, \"cpu_pct\": %.1f, "
	    "\"exited_on_eof\": %s, \"exit_ms\": %.1f, \"exit\": \"%s\", \"stderr_lines\": %" PRIu64 "},\n",
	    (int)child, vmhwm, st.peak_rss_kb, fcpu, wall > 0 && fcpu >= 0 ? 100.0 * fcpu / wall : -1.0,
	    exited_by_itself ? "true" : "false", exit_ms, why, st.stderr_lines);
	printf("  \"sim\": {\"cpu_s\": %.3f, \"cpu_pct\": %.1f}\n", scpu, wall > 0 ? 100.0 * scpu / wall : -1.0);
	printf("}\n");
	if (!ok)
		print_stderr_tail();
	return fatal_hit ? 3 : (ok ? 0 : 1);
}
