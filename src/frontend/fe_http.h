/*
 * fe_http: the HTTP/1.1 request parser of one connection (sans-I/O) and the
 * response head writer.
 *
 * Built on llhttp 8.1.0. The caller feeds the bytes of each read; the parser
 * hands back ONE complete request at a time (keep-alive and pipelining: the
 * bytes after a request stay unconsumed until the caller feeds them again), so
 * a connection whose answer is still pending (a write going through Raft)
 * simply stops feeding. Before llhttp sees a header byte, fe_http scans the
 * header section and refuses a bare CR and obs-fold with 400, which llhttp
 * 8.1.0 accepts (CVE-2023-30589, STYLE.md section 3).
 * Ownership: the parser owns copies of the URL, the headers it tracks, the
 * decoded query and the body; a struct fe_http_req points into them and stays
 * valid until the next fe_http_feed() or fe_http_parser_release(). Storage is
 * reused from one request to the next (no allocation per request once warm).
 * Errors: fe_http_feed() returns an event (>= 0) or CF_EBADREQ / CF_ETOOBIG /
 * -ENOMEM; p->status then holds the HTTP status to answer (400, 413, 414, 431,
 * 501, 505, 500) before closing. An error is sticky.
 * Threads: a parser belongs to one thread at a time.
 */
#ifndef FE_HTTP_H
#define FE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"

#include "common/cf_buf.h"

/* Defaults of struct fe_http_limits. */
#define FE_HTTP_MAX_HEADER_BYTES (16u * 1024u)
#define FE_HTTP_MAX_BODY_BYTES (1024u * 1024u)
#define FE_HTTP_MAX_URL_BYTES (8u * 1024u)
/* A query with more parameters than this is refused with 400. */
#define FE_HTTP_MAX_PARAMS 32

struct fe_http_limits {
	size_t max_header_bytes; /* request line + headers; over -> 431 */
	size_t max_body_bytes;	 /* decoded body; over -> 413 */
	size_t max_url_bytes;	 /* request target; over -> 414 */
	const char *big_body_path; /* POST to this exact path (no query) */
	size_t big_body_bytes;	   /* may carry up to this, if larger */
	bool report_continue;	 /* report FE_HTTP_CONTINUE (default off:
				    the client then waits a while and
				    sends its body anyway) */
};

/* What fe_http_feed() reports (non-negative returns). */
enum fe_http_event {
	FE_HTTP_NEED_MORE = 0, /* every byte consumed, no request yet */
	FE_HTTP_REQUEST = 1,   /* p->req holds a complete request */
	FE_HTTP_UPGRADE = 2,   /* p->req is an upgrade request; bytes after
				  *consumed belong to the new protocol */
	FE_HTTP_CONTINUE = 3,  /* only with limits.report_continue: the
				  headers of a request with a body said
				  "Expect: 100-continue": write
				  FE_HTTP_CONTINUE_LINE (or a final refusal)
				  and feed the rest; p->req is not set */
};

#define FE_HTTP_CONTINUE_LINE "HTTP/1.1 100 Continue\r\n\r\n"

enum fe_http_method {
	FE_HTTP_GET,
	FE_HTTP_HEAD,
	FE_HTTP_POST,
	FE_HTTP_PUT,
	FE_HTTP_DELETE,
	FE_HTTP_PATCH,
	FE_HTTP_OPTIONS,
	FE_HTTP_OTHER, /* see req->method_name */
};

/* The headers a request keeps; all others are parsed and dropped. */
enum fe_http_header {
	FE_HTTP_H_HOST,
	FE_HTTP_H_AUTHORIZATION,
	FE_HTTP_H_X_CONFAB_USER,
	FE_HTTP_H_CONTENT_TYPE,
	FE_HTTP_H_CONTENT_LENGTH,
	FE_HTTP_H_CONNECTION, /* repeated lines are joined with ", " */
	FE_HTTP_H_UPGRADE,    /* repeated lines are joined with ", " */
	FE_HTTP_H_SEC_WEBSOCKET_KEY,
	FE_HTTP_H_SEC_WEBSOCKET_VERSION,
	FE_HTTP_H_ORIGIN,
	FE_HTTP_H_EXPECT,
	FE_HTTP_H_COUNT
};

struct fe_http_param {
	struct cf_str name; /* %-decoded, NUL-terminated */
	struct cf_str value;
};

/*
 * One complete request. Every cf_str is NUL-terminated (p[len] == '\0') and
 * p == NULL means absent. Valid until the next fe_http_feed().
 */
struct fe_http_req {
	enum fe_http_method method;
	const char *method_name; /* "GET", ... (static) */
	int http_minor;		 /* 0 or 1 (major is always 1) */
	struct cf_str target;	 /* raw request target */
	struct cf_str path;	 /* raw (not decoded), without the query */
	struct cf_str query;	 /* raw, without '?'; absent if no '?' */
	struct fe_http_param params[FE_HTTP_MAX_PARAMS];
	unsigned nparams;
	struct cf_str h[FE_HTTP_H_COUNT]; /* values, trailing OWS trimmed */
	int64_t content_length;		  /* -1 without Content-Length */
	bool chunked;
	bool keep_alive; /* HTTP/1.1 unless Connection: close; 1.0 opt-in */
	bool upgrade;	 /* Upgrade + Connection: upgrade, no body */
	struct cf_str body; /* decoded (chunks joined); never NULL */
};

/* Per-field offsets into the store while a request is being parsed. */
struct fe_http__span {
	uint32_t off;
	uint32_t len;
	bool present;
};

struct fe_http_parser {
	llhttp_t ll;
	struct fe_http_limits limits;
	int status; /* HTTP status of the error, 0 while none */
	int err;    /* sticky negative code, 0 while none */
	bool done;  /* an upgrade was reported: the parser is finished */
	bool paused; /* llhttp is paused: resume first */
	bool continue_ev; /* the pause is for FE_HTTP_CONTINUE */
	/* header section scanner (bare CR / obs-fold / size) */
	int scan;
	size_t header_bytes;
	size_t target_bytes;
	/* request being parsed */
	struct cf_buf store; /* URL, tracked header values, decoded query */
	struct cf_buf body;
	struct fe_http__span url;
	struct fe_http__span hs[FE_HTTP_H_COUNT];
	char field[32]; /* current header name (lower case) */
	size_t field_len; /* > sizeof field - 1: not a tracked name */
	int cur;	  /* enum fe_http_header being stored, or -1 */
	int64_t content_length;
	struct fe_http_req req;
};

/* Fill l with the defaults above. */
void fe_http_limits_default(struct fe_http_limits *l);
/* Set up p; limits may be NULL (defaults). Never fails. */
void fe_http_parser_init(struct fe_http_parser *p,
			 const struct fe_http_limits *limits);
void fe_http_parser_release(struct fe_http_parser *p);

/*
 * Parse data[0..len). *consumed tells how many bytes were used: all of them
 * for FE_HTTP_NEED_MORE, up to the end of the request for FE_HTTP_REQUEST
 * (feed the rest again, maybe later), up to the end of the upgrade request
 * for FE_HTTP_UPGRADE (the rest goes to fe_ws; the parser is then finished
 * and further feeds return CF_EBADREQ). On error, *consumed is 0 and
 * p->status is the status to answer; the connection must then close.
 */
int fe_http_feed(struct fe_http_parser *p, const char *data, size_t len,
		 size_t *consumed);

/*
 * True when a request has begun but is not complete (bytes of it were
 * consumed): at EOF that is a truncated request, not a clean close.
 */
bool fe_http_in_request(const struct fe_http_parser *p);
/* True once the head of the request being received is complete. */
bool fe_http_in_body(const struct fe_http_parser *p);

/*
 * The %-decoded value of the first query parameter named name ("a=1&b").
 * A parameter without '=' has an empty value. 0, or CF_ENOTFOUND.
 */
int fe_http_query_get(const struct fe_http_req *req, const char *name,
		      struct cf_str *val);

/*
 * %-decode in[0..len) into out (room for len + 1 bytes; NUL-terminated);
 * '+' becomes a space when plus_is_space. *out_len gets the decoded length.
 * CF_EBADREQ for a bad escape or a decoded NUL byte.
 */
int fe_http_pct_decode(const char *in, size_t len, char *out, size_t *out_len,
		       bool plus_is_space);

/* True if the comma-separated list value contains token (ASCII case
 * insensitive), as in "Connection: keep-alive, Upgrade". */
bool fe_http_list_has(struct cf_str value, const char *token);

/* Reason phrase of an HTTP status ("Not Found"); "Unknown" if not known. */
const char *fe_http_status_text(int status);

/*
 * fe_http_response_begin() without extra and without the empty line: the
 * caller appends more header lines and then "\r\n".
 */
int fe_http_response_head(struct cf_buf *b, int status,
			  const char *content_type, size_t body_len,
			  bool keep_alive);

/*
 * Append a response's status line and headers, up to and including the empty
 * line, to b: Content-Type (if content_type is not NULL), Content-Length and
 * Connection (keep-alive or close). A 1xx, 204 or 304 response gets neither
 * Content-Length nor Content-Type, and a 101 no Connection (extra gives it).
 * extra is NULL or more header lines, each ending in "\r\n".
 * 0 or -ENOMEM (b unchanged on failure).
 */
int fe_http_response_begin(struct cf_buf *b, int status,
			   const char *content_type, size_t body_len,
			   bool keep_alive, const char *extra);

#endif
