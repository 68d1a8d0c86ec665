#include "config.h"

/*
 * fe_auth: user and admin tokens side by side, on requests built here (the
 * integration test test_admin covers the same over real sockets): what each
 * kind of route accepts, and the admin routes' refusal when the cluster file
 * has no admin-secret.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_http.h"

static void cluster(struct cf_cluster *c, bool admin)
{
	memset(c, 0, sizeof *c);
	strcpy(c->secret, "user-secret-0123456789");
	c->secret_len = (unsigned)strlen(c->secret);
	if (admin) {
		strcpy(c->admin_secret, "admin-secret-0123456789");
		c->admin_secret_len = (unsigned)strlen(c->admin_secret);
	}
}

/* A request carrying "Authorization: <auth>" (none if NULL). */
static void request(struct fe_http_req *r, const char *auth)
{
	memset(r, 0, sizeof *r);
	r->method = FE_HTTP_GET;
	r->path = cf_str_c("/v1/admin/status");
	if (auth != NULL)
		r->h[FE_HTTP_H_AUTHORIZATION] = cf_str_c(auth);
}

static int admin_with(const struct cf_cluster *c, const char *tok)
{
	struct fe_http_req r;
	char hdr[2048], who[129];
	const char *msg = NULL;

	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	request(&r, hdr);
	return fe_auth_admin_request(c, &r, who, &msg);
}

static void admin_and_user_tokens_do_not_mix(void **state)
{
	struct cf_cluster c;
	char *admin, *user, who[129];
	const char *msg = NULL;

	(void)state;
	cluster(&c, true);
	assert_int_equal(fe_auth_admin_mint(&c, "ops", 60, &admin), 0);
	assert_int_equal(fe_auth_mint(&c, "alice", 60, &user), 0);
	assert_int_equal(admin_with(&c, admin), 0);
	assert_int_equal(admin_with(&c, user), CF_EUNAUTH);
	assert_int_equal(fe_auth_token(&c, user, strlen(user), who, &msg), 0);
	assert_string_equal(who, "alice");
	assert_int_equal(fe_auth_token(&c, admin, strlen(admin), who, &msg),
			 CF_EUNAUTH);
	/* Minting refuses an admin token over 5 minutes. */
	free(user);
	user = NULL;
	assert_int_equal(fe_auth_admin_mint(&c, "ops", 301, &user),
			 CF_EBADREQ);
	assert_int_equal(fe_auth_admin_mint(&c, "ops", 0, &user),
			 CF_EBADREQ);
	assert_null(user);
	free(admin);
	free(user);
}

static void admin_routes_are_off_without_an_admin_secret(void **state)
{
	struct cf_cluster c;
	struct fe_http_req r;
	char *tok, *other = NULL, who[129];
	const char *msg = NULL;

	(void)state;
	cluster(&c, true);
	assert_int_equal(fe_auth_admin_mint(&c, "ops", 60, &tok), 0);
	cluster(&c, false);
	assert_int_equal(admin_with(&c, tok), CF_EFORBIDDEN);
	assert_int_equal(fe_auth_admin_mint(&c, "ops", 60, &other),
			 CF_EFORBIDDEN);
	cluster(&c, true);
	request(&r, NULL);
	assert_int_equal(fe_auth_admin_request(&c, &r, who, &msg),
			 CF_EUNAUTH);
	assert_non_null(strstr(msg, "Bearer"));
	request(&r, "Basic b3BzOnB3");
	assert_int_equal(fe_auth_admin_request(&c, &r, who, &msg),
			 CF_EUNAUTH);
	free(tok);
}

static void dev_identity_needs_a_loopback_host(void **state)
{
	static const char *const good[] = {
		"127.0.0.1", "127.0.0.1:8080", "127.1.2.3:1", "localhost",
		"LocalHost:9", "[::1]", "[::1]:443"};
	static const char *const bad[] = {
		"", "evil.example", "evil.example:8080", "127.0.0.1.evil.example",
		"localhost.evil.example", "10.0.0.1:80", "[::2]:80", "[::1",
		"127.0.0.1:", "127.0.0.1:80x", "128.0.0.1", "0x7f000001",
		"localhost:80:80"};
	struct cf_cluster c;
	struct fe_http_req r;
	const char *msg = NULL;
	char who[129];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_true(fe_auth_host_loopback(cf_str_c(good[i])));
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(fe_auth_host_loopback(cf_str_c(bad[i])));
	assert_false(fe_auth_host_loopback((struct cf_str){NULL, 0}));

	cluster(&c, false);
	request(&r, NULL);
	r.h[FE_HTTP_H_X_CONFAB_USER] = cf_str_c("alice");
	r.h[FE_HTTP_H_HOST] = cf_str_c("127.0.0.1:8080");
	assert_int_equal(fe_auth_request(&c, true, &r, who, &msg), 0);
	assert_string_equal(who, "alice");
	/* A rebound name: the same request is refused. */
	r.h[FE_HTTP_H_HOST] = cf_str_c("evil.example:8080");
	assert_int_equal(fe_auth_request(&c, true, &r, who, &msg),
			 CF_EUNAUTH);
	assert_non_null(strstr(msg, "loopback Host"));
	/* No Host at all is refused too. */
	r.h[FE_HTTP_H_HOST] = (struct cf_str){NULL, 0};
	assert_int_equal(fe_auth_request(&c, true, &r, who, &msg),
			 CF_EUNAUTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(admin_and_user_tokens_do_not_mix),
		cmocka_unit_test(admin_routes_are_off_without_an_admin_secret),
		cmocka_unit_test(dev_identity_needs_a_loopback_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
