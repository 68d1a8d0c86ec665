/*
 * cf_test_api: Confab API calls for the integration tests, with cmocka
 * assertions built in (they fail the running test on a broken contract).
 *
 * Every call goes through the main-thread connection of a node of a
 * struct cf_test_cluster, with dev auth (X-Confab-User). Histories are read
 * whole (fromSeq paging, consistent=1, bounded retries on 503). A digest is
 * XXH3-64 over the history records in seq order, each hashed as
 *   seq "\0" messageId "\0" senderId "\0" clientMsgId "\0" content "\0"
 * so two nodes with equal digests hold the same messages.
 * Ownership: functions returning json_t * return a new reference.
 * Errors: assertion failures (cmocka), or a status as documented.
 * Threads: main test thread only, except cf_test_id_text, cf_test_int,
 * cf_test_str and cf_test_sleep_ms (any).
 */
#ifndef CF_TEST_API_H
#define CF_TEST_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_test_cluster.h"

/* The answer to a send. */
struct cf_test_ack {
	long long seq;
	char mid[32];
	int duplicate;
};

void cf_test_sleep_ms(int ms);
/* A messageId (string, or an integer) as text in buf. */
const char *cf_test_id_text(json_t *v, char *buf, size_t size);
/* Field k of o, or -1 / "" when absent or of another type. */
long long cf_test_int(json_t *o, const char *k);
const char *cf_test_str(json_t *o, const char *k);

/*
 * One request; returns the JSON answer (or NULL) and the status (or a
 * negative code) in *status. Answers >= 300 are printed as diagnostics.
 */
json_t *cf_test_call(struct cf_test_cluster *c, unsigned node,
		     const char *method, const char *path, const char *user,
		     const char *body, int *status);
/* cf_test_call() that must answer want (fails the test otherwise). */
json_t *cf_test_expect(struct cf_test_cluster *c, unsigned node,
		       const char *method, const char *path, const char *user,
		       const char *body, int want);
/* Create group id owned by owner (asserts 201). */
void cf_test_create_group(struct cf_test_cluster *c, unsigned node,
			  const char *owner, const char *id,
			  const char *members_json);
/* Send a text message; returns the status and fills *a on 2xx. */
int cf_test_send(struct cf_test_cluster *c, unsigned node, const char *user,
		 const char *conv, const char *cmid, const char *content,
		 struct cf_test_ack *a);
/* The whole history of conv on node, as a JSON array of messages. */
json_t *cf_test_history(struct cf_test_cluster *c, unsigned node,
			const char *user, const char *conv);
uint64_t cf_test_digest(json_t *hist);
/* Asserts seqs 1..N in order and no (sender, clientMsgId) twice. */
void cf_test_assert_history(json_t *hist);
/*
 * Asserts that conv is well formed and has the same digest on nodes 1..3
 * (and expect_n messages, unless 0); returns the digest.
 */
uint64_t cf_test_assert_same(struct cf_test_cluster *c, const char *user,
			     const char *conv, size_t expect_n);

/*
 * The value of series (a metric name with its labels, e.g.
 * `confab_segments{tier="hot"}`) in text, a /metrics answer: the first
 * line that starts with series followed by a space; -1 if absent.
 */
double cf_test_metric_in(const char *text, const char *series);
/*
 * GET /metrics of node (its main-thread conn, no user) and the value of
 * series in it; -1 if absent or if the node does not answer 200 (no
 * assertion: the node may be down or starting).
 */
double cf_test_metric(struct cf_test_cluster *c, unsigned node,
		      const char *series);

/*
 * Run $CONFAB_BUILDDIR/confabctl with args (shell words); its stdout and
 * stderr in out (NUL-terminated, cut at size), echoed as TAP comments;
 * returns its exit status.
 */
int cf_test_ctl(const char *args, char *out, size_t size);

#endif
