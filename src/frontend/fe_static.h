/*
 * fe_static: the web page every node serves to browsers: GET / answers
 * DIR/index.html and GET /app/NAME answers DIR/NAME, where DIR is
 * fe_config.web_dir, else CONFAB_WEBDIR (the installed $(pkgdatadir)/web) when
 * it holds an index.html, else CONFAB_SRC_WEBDIR (the source tree's web/).
 *
 * NAME is one path segment of [A-Za-z0-9_-] plus one known extension
 * (.html .css .js .png .svg .ico .json): anything else, and any '%', '/' or
 * "..", is 404, so no request can name a file outside DIR. Methods other
 * than GET are 405. Files are read whole
 * (at most FE_STATIC_MAX_BYTES) with blocking reads: they are a few small
 * files that stay in the page cache. Answers carry Content-Type and
 * "Cache-Control: no-cache".
 * Ownership: nothing is kept between requests. Errors: answered to the client.
 * Threads: loop thread only.
 */
#ifndef FE_STATIC_H
#define FE_STATIC_H

#include <stdbool.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"

#define FE_STATIC_MAX_BYTES (4u << 20)

/* Answer req if it is a route of the page (true), else leave it (false). */
bool fe_static_http(struct fe_conn *c, const struct fe_http_req *req);

/*
 * The Content-Type of a safe file name, or NULL when name is not one a
 * request may ask for (see above). Exposed for the tests.
 */
const char *fe_static_type(const char *name, size_t len);

/* The folder served: cfg_dir if not NULL, else the defaults above. */
const char *fe_static_dir(const char *cfg_dir);

#endif
