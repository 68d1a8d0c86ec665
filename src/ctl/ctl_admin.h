/*
 * ctl_admin: confabctl's verbs on a running cluster, through each node's
 * admin routes (fe_admin.h) with a short-lived admin token minted from the
 * cluster file's admin-secret (fe_auth.h).
 *
 *   status --cluster FILE [--node URL] [--json]
 *       every node of the cluster file (or only URL), as each sees itself
 *   inspect --cluster FILE --node URL [--json]
 *       one node's store: shape, tiers, every segment file
 *   verify --cluster FILE [--json]
 *       commit a verify marker; every node hashes its segment files as of
 *       the marker's index; identical digests, or the first difference
 *
 * Each verb returns confabctl's exit status: 0, 1 (a node did not answer
 * or refused), 2 (usage). Threads: main thread only.
 */
#ifndef CTL_ADMIN_H
#define CTL_ADMIN_H

int ctl_status(int argc, char **argv);
int ctl_verify_cluster(int argc, char **argv);
int ctl_inspect_live(int argc, char **argv);
int ctl_compact(int argc, char **argv);

#endif
