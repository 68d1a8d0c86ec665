/*
 * cf_test_http: a small blocking HTTP/1.1 and WebSocket client for the
 * integration tests and tools (not used by confabd itself).
 *
 * A struct cf_http_conn is one keep-alive TCP connection to one node; every
 * wait is bounded by poll() with a deadline. Requests send Content-Length
 * bodies; responses are read with Content-Length, chunked, or read-to-EOF
 * framing. A dropped keep-alive connection is reopened before the next
 * request (never in the middle of one: a request is not retried here).
 * A struct cf_ws_client is an upgraded connection: it sends masked text
 * frames and receives frames, answering pings and the close handshake.
 *
 * Ownership: a conn owns its socket and read buffer; a response owns its
 * headers, body and parsed JSON (cf_http_resp_release frees them). Frames
 * returned by cf_ws_recv are malloc'd and belong to the caller.
 * Errors: 0 or a negative code: -errno from the socket, CF_ETIMEDOUT when a
 * deadline passes, CF_ECORRUPT for a malformed response or frame, CF_EBADREQ
 * for a bad URL, -ECONNRESET when the peer closed. After any error the conn
 * is closed (and reopened by the next request).
 * Threads: a conn or client belongs to one thread at a time.
 */
#ifndef CF_TEST_HTTP_H
#define CF_TEST_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

struct cf_http_conn {
	int fd;		 /* -1 while closed */
	char host[64];	 /* IPv4 literal or name */
	int port;
	int timeout_ms;	 /* per request, connect included */
	struct cf_buf in; /* bytes read but not consumed yet */
};

struct cf_http_resp {
	int status;	   /* e.g. 200 */
	struct cf_buf head; /* the raw header section, NUL-terminated */
	char *body;	   /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	json_t *json; /* lazily parsed by cf_http_resp_json() */
};

/*
 * Parse "http://host:port[/...]" or "host:port" into host (64 bytes) and
 * port. 0 or CF_EBADREQ.
 */
int cf_http_parse_url(const char *url, char *host, int *port);
/* A blocking TCP connection to url's IPv4 host and port: the descriptor,
 * or a negative code. For tests that write raw bytes. */
int cf_http_connect_blocking(const char *url);

/* Set up a closed conn to url; nothing is opened until the first request. */
int cf_http_conn_init(struct cf_http_conn *c, const char *url, int timeout_ms);
/* Close the socket and free the buffers; the conn may be re-inited. */
void cf_http_conn_release(struct cf_http_conn *c);
/* Close the socket only (the next request reconnects). */
void cf_http_conn_drop(struct cf_http_conn *c);

/*
 * Send one request and read its response into *r (which must be released
 * by the caller, also after an error). headers: extra "Name: value\r\n"
 * lines or NULL; a body sets Content-Type: application/json unless the
 * headers say otherwise.
 */
int cf_http_request(struct cf_http_conn *c, const char *method,
		    const char *path, const char *headers, const void *body,
		    size_t body_len, struct cf_http_resp *r);

/*
 * The same with dev auth (X-Confab-User: user, when user is not NULL) and a
 * JSON text body (or NULL).
 */
int cf_http_request_json(struct cf_http_conn *c, const char *method,
			 const char *path, const char *user, const char *json,
			 struct cf_http_resp *r);

void cf_http_resp_init(struct cf_http_resp *r);
void cf_http_resp_release(struct cf_http_resp *r);
/* The parsed body (owned by r), or NULL if it is not JSON. */
json_t *cf_http_resp_json(struct cf_http_resp *r);
/*
 * Value of header name (case-insensitive) copied into out (size bytes,
 * NUL-terminated); 0, or CF_ENOTFOUND.
 */
int cf_http_resp_header(const struct cf_http_resp *r, const char *name,
			char *out, size_t size);

/* WebSocket opcodes (RFC 6455 5.2). */
enum cf_ws_opcode {
	CF_WS_CONT = 0x0,
	CF_WS_TEXT = 0x1,
	CF_WS_BINARY = 0x2,
	CF_WS_CLOSE = 0x8,
	CF_WS_PING = 0x9,
	CF_WS_PONG = 0xA,
};

struct cf_ws_client {
	struct cf_http_conn conn;
	int closed;	     /* a close frame was received or sent */
	unsigned close_code; /* the peer's close code, 0 if none */
	struct cf_buf frag;  /* a fragmented message being collected */
	int frag_op;
};

/*
 * Open url ("http://host:port") and upgrade at path_query (e.g.
 * "/v1/ws?user=bob&deviceId=d1"); checks the 101 status and
 * Sec-WebSocket-Accept. CF_ECORRUPT if the server refused or answered badly.
 */
int cf_ws_connect(struct cf_ws_client *w, const char *url,
		  const char *path_query, int timeout_ms);
/* Send one masked frame of the given opcode. */
int cf_ws_send(struct cf_ws_client *w, int opcode, const void *p, size_t n);
/*
 * Send one hand-made frame, for protocol-violation tests: first is the
 * whole first byte (FIN 0x80, RSV bits 0x70, opcode), masked whether a
 * masking key is sent (RFC 6455 requires it from clients), declared_len
 * the payload length written in the header (n, or more to announce a frame
 * bigger than what is sent); the n bytes of p follow (masked if masked).
 */
int cf_ws_send_raw(struct cf_ws_client *w, unsigned first, int masked,
		   uint64_t declared_len, const void *p, size_t n);
static inline int cf_ws_send_text(struct cf_ws_client *w, const char *s)
{
	return cf_ws_send(w, CF_WS_TEXT, s, strlen(s));
}
/*
 * Receive the next data message (text or binary, fragments joined) within
 * timeout_ms: *data is malloc'd and NUL-terminated. Pings are answered and
 * pongs skipped on the way. A close frame is answered and gives
 * -ECONNRESET (close_code set); CF_ETIMEDOUT when nothing came in time.
 */
int cf_ws_recv(struct cf_ws_client *w, int timeout_ms, int *opcode,
	       char **data, size_t *len);
/* Receive the next text message parsed as a JSON object (caller decrefs). */
int cf_ws_recv_json(struct cf_ws_client *w, int timeout_ms, json_t **out);
/* Send a close frame, wait briefly for the answer, free everything. */
void cf_ws_close(struct cf_ws_client *w);

/* Exposed for tests: base64 of SHA-1(key + RFC 6455 GUID), 29 bytes. */
void cf_ws_accept_key(const char *key, char out[32]);

#endif
