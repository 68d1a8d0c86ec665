/*
 * cf_id: validation of client-visible identifiers (API.md conventions).
 * User ids, conversation ids and clientMsgId are 1 to 128 bytes of
 * [A-Za-z0-9._:@-]; deviceId is 1 to 64 such bytes; msgType is [a-z_]{1,32}.
 * Threads: any. Errors: predicates only.
 */
#ifndef CF_ID_H
#define CF_ID_H

#include <stdbool.h>
#include <stddef.h>

#define CF_ID_MAX 128

bool cf_id_valid(const char *s, size_t len);
bool cf_device_id_valid(const char *s, size_t len);
bool cf_msg_type_valid(const char *s, size_t len);
/* Number of Unicode code points in valid UTF-8 s (callers validated it). */
size_t cf_utf8_chars(const char *s, size_t len);

#endif
