#include "config.h"

#include "common/cf_id.h"

static bool id_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '@' || c == '-';
}

static bool id_run(const char *s, size_t len, size_t max)
{
	if (s == 0 || len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_char((unsigned char)s[i]))
			return false;
	return true;
}

bool cf_id_valid(const char *s, size_t len)
{
	return id_run(s, len, CF_ID_MAX);
}

bool cf_device_id_valid(const char *s, size_t len)
{
	return id_run(s, len, 64);
}

bool cf_msg_type_valid(const char *s, size_t len)
{
	if (s == 0 || len == 0 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return true;
}

size_t cf_utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}
