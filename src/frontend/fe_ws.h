/*
 * fe_ws: server-side WebSocket framing (RFC 6455), sans-I/O.
 *
 * Written by hand, shaped like wslay_frame.c, because libwslay's event layer
 * copies every message once per socket, and fan-out needs the opposite: the
 * frame of a committed message is built ONCE into a struct cf_blob and the
 * same blob is written to every member socket (STYLE.md 2.5.2). So this
 * module has three parts: the opening handshake (accept key, request checks),
 * a receive state machine that takes bytes split anywhere and hands back one
 * event at a time, and encoders into a cf_buf or a cf_blob.
 * Ownership: the parser owns one message buffer, reused from message to
 * message (no allocation per frame once warm); an event's bytes point into the
 * parser and stay valid until the next fe_ws_feed() or release. Encoders
 * append to the caller's cf_buf or return a new blob with one reference.
 * Errors: fe_ws_feed() returns an event (>= 0) or CF_EBADREQ (protocol error
 * or invalid UTF-8) / CF_ETOOBIG (message over the limit) / -ENOMEM, and
 * p->close_code then holds the close code to send (1002, 1007, 1009, 1011).
 * An error is sticky. Encoders return 0 or -ENOMEM.
 * Threads: a parser belongs to one thread at a time; the functions without
 * a parser are thread-safe.
 */
#ifndef FE_WS_H
#define FE_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_blob.h"
#include "common/cf_buf.h"
#include "frontend/fe_http.h"

#define FE_WS_MAX_MESSAGE (1024u * 1024u)
/* Header line a 426 answer carries (RFC 6455 section 4.4). */
#define FE_WS_VERSION_HEADER "Sec-WebSocket-Version: 13\r\n"

enum fe_ws_opcode {
	FE_WS_OP_CONT = 0x0,
	FE_WS_OP_TEXT = 0x1,
	FE_WS_OP_BINARY = 0x2,
	FE_WS_OP_CLOSE = 0x8,
	FE_WS_OP_PING = 0x9,
	FE_WS_OP_PONG = 0xa,
};

/* Close codes used here (RFC 6455 section 7.4.1). */
enum fe_ws_close_code {
	FE_WS_CLOSE_NORMAL = 1000,
	FE_WS_CLOSE_GOING_AWAY = 1001,
	FE_WS_CLOSE_PROTOCOL = 1002,
	FE_WS_CLOSE_UNSUPPORTED = 1003, /* e.g. a binary message */
	FE_WS_CLOSE_NO_STATUS = 1005, /* never on the wire */
	FE_WS_CLOSE_BAD_DATA = 1007,
	FE_WS_CLOSE_POLICY = 1008,
	FE_WS_CLOSE_TOO_BIG = 1009,
	FE_WS_CLOSE_INTERNAL = 1011,
};

/* What fe_ws_feed() reports (non-negative returns). */
enum fe_ws_event_kind {
	FE_WS_NEED_MORE = 0, /* every byte consumed, no event */
	FE_WS_TEXT,	     /* a complete text message, valid UTF-8 */
	FE_WS_BINARY,	     /* a complete binary message */
	FE_WS_PING,	     /* answer with fe_ws_pong_append(data, len) */
	FE_WS_PONG,
	FE_WS_CLOSE, /* code (1005 if none) and UTF-8 reason in data */
};

struct fe_ws_event {
	enum fe_ws_event_kind kind;
	const uint8_t *data; /* unmasked payload; NUL after it for TEXT */
	size_t len;
	uint16_t code; /* FE_WS_CLOSE only */
};

struct fe_ws_parser {
	size_t max_message;
	int state;
	int err;	     /* sticky negative code, 0 while none */
	uint16_t close_code; /* to send after an error */
	/* frame header being gathered */
	uint8_t hdr[14];
	uint8_t hdr_len, hdr_need;
	/* frame being received */
	uint8_t opcode;
	bool fin;
	uint8_t mask[4];
	uint8_t mask_pos;
	uint64_t remaining;
	/* data message being assembled (fragments joined) */
	bool in_message;
	bool reset_message; /* the last event handed out msg */
	uint8_t msg_opcode;
	uint32_t utf8; /* DFA state across fragments */
	struct cf_buf msg;
	/*
	 * control frame payload (never fragmented, at most 125 bytes):
	 * allocated when one arrives, given back by fe_ws_parser_trim
	 * between frames, so that an idle socket holds none (issue 11)
	 */
	uint8_t *ctrl;
	uint8_t ctrl_len;
};

/* Set up p; max_message 0 means FE_WS_MAX_MESSAGE. Never fails. */
void fe_ws_parser_init(struct fe_ws_parser *p, size_t max_message);
void fe_ws_parser_release(struct fe_ws_parser *p);
/*
 * Free the message buffer unless a message is being received (an idle
 * socket holds none). The last event's bytes are invalid afterwards.
 */
void fe_ws_parser_trim(struct fe_ws_parser *p);

/*
 * Parse client frames in data[0..len). Returns the next event, with
 * *consumed up to the end of the frame that produced it (feed the rest
 * again), or FE_WS_NEED_MORE with *consumed == len. After FE_WS_CLOSE the
 * parser is finished: later bytes are consumed and ignored. On error
 * *consumed is 0 and p->close_code is the code to close with.
 */
int fe_ws_feed(struct fe_ws_parser *p, const void *data, size_t len,
	       size_t *consumed, struct fe_ws_event *ev);

/*
 * Incremental UTF-8 check (Hoehrmann's DFA): start with *state = 0; after
 * all bytes, 0 means valid and complete. Returns false as soon as the bytes
 * cannot be UTF-8 (overlong forms, surrogates, over U+10FFFF included).
 */
bool fe_ws_utf8_step(uint32_t *state, const uint8_t *s, size_t n);
/* True if s[0..n) is complete, valid UTF-8. */
bool fe_ws_utf8_valid(const uint8_t *s, size_t n);
/* True for a close code allowed on the wire. */
bool fe_ws_close_code_valid(unsigned code);

/*
 * Opening handshake. fe_ws_accept_key() writes base64(SHA-1(key + GUID)),
 * 28 characters and a NUL. fe_ws_handshake_check() checks a request that
 * fe_http reported as FE_HTTP_UPGRADE (or any request to the WebSocket
 * route): 0, or CF_EBADREQ with *status 400 (bad method, version, Upgrade,
 * Connection or key) or 426 (no Upgrade at all, or a version other than 13:
 * answer with FE_WS_VERSION_HEADER). fe_ws_handshake_response() appends the
 * 101 answer for a checked request to b.
 */
void fe_ws_accept_key(const char *sec_key, char out[29]);
int fe_ws_handshake_check(const struct fe_http_req *req, int *status);
int fe_ws_handshake_response(struct cf_buf *b, const struct fe_http_req *req);

/*
 * Encoders (server frames are never masked). fe_ws_encode_header() writes the
 * header of a frame with payload_len bytes and returns its length (2, 4 or
 * 10). fe_ws_frame_append() appends a whole frame to b; fe_ws_frame_blob()
 * builds one into a new blob for fan-out (NULL on out-of-memory).
 * fe_ws_close_append() appends a close frame: code 0 gives an empty payload,
 * otherwise the code and the reason cut to 123 bytes at a character
 * boundary. fe_ws_pong_append() answers a ping with its payload.
 */
size_t fe_ws_encode_header(uint8_t out[10], enum fe_ws_opcode opcode, bool fin,
			   uint64_t payload_len);
int fe_ws_frame_append(struct cf_buf *b, enum fe_ws_opcode opcode,
		       const void *payload, size_t len);
struct cf_blob *fe_ws_frame_blob(enum fe_ws_opcode opcode, const void *payload,
				 size_t len);
int fe_ws_close_append(struct cf_buf *b, uint16_t code, const char *reason);
int fe_ws_pong_append(struct cf_buf *b, const void *payload, size_t len);

#endif
