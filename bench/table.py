#!/usr/bin/env python3
"""table.py: the figures of one bench/compare.sh run, as a table and chart data.

  table.py tag SYSTEM ROUND [KEY=VALUE ...] < jsonl >> all.jsonl
      copy the JSON lines of stdin (lines that start with '{'), each with
      "system", "round" and the given keys added (numbers stay numbers)
  table.py report DIR CONCS CPU_CONC N
      read DIR/all.jsonl (the tagged lines of every round), print the
      markdown table of medians with Confab/peer ratios on stdout, write
      DIR/table.md (the same) and DIR/chart-SYSTEM.dat (conc, sends/s, p99 ms)
      for gnuplot

Systems in all.jsonl (compare.sh writes them): confab-http, confab-ws,
confab-httppipe (the sends; server_cpu_us_per_ack when confab-bench took
--pid, cpu_src says where it came from; httppipe only at concurrencies above
its 16 connections), confab-http-nosearch (one point, confabd --search=off),
confab-idle (rss_per_socket), confab-fanout (last_ms, leader_last_ms,
follower_last_ms, client_cpu_s); the peers' own lines: etcd3, nats3, redis1
(conc, ops_s, p50_ms, p99_ms, server_cpu_ms_per_1k = µs per op) and wsfanout
(conc "ws" is the Node ws server: server_rss_per_conn_B, last_ms).
Every figure is the median over the rounds; a ratio is Confab's median over
the peer's (above 1: Confab higher, which is better for sends/s and worse for
latency, CPU and memory).
"""
import json
import statistics
import sys

PEERS = [("etcd3", "etcd (3 nodes)"), ("nats3", "NATS JetStream R3 (acks before fsync)"),
         ("redis1", "Redis (1 node, appendfsync always)"),
         ("nodews", "Node ws (1 process)")]


def num(s):
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


def tag(system, rnd, extra):
    add = {"system": system, "round": num(rnd)}
    for kv in extra:
        k, _, v = kv.partition("=")
        add[k] = num(v)
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue
        d.update(add)
        print(json.dumps(d))


def load(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip().startswith("{"):
                    rows.append(json.loads(line))
    except FileNotFoundError:
        pass
    for r in rows:
        # one name per system; the Node ws server is wsfanout's "ws" mode
        if r.get("system") == "wsfanout":
            r["system"] = "nodews" if r.get("conc") == "ws" else \
                "wsfanout-" + str(r.get("conc"))
        # CPU per op in µs: Confab's per ack, the peers' ms per 1,000 ops
        if "server_cpu_us_per_ack" in r:
            r["cpu_us"] = r["server_cpu_us_per_ack"]
        elif "server_cpu_ms_per_1k" in r:
            r["cpu_us"] = r["server_cpu_ms_per_1k"]
        if "rss_per_socket" in r:
            r["rss_B"] = r["rss_per_socket"]
        elif r.get("mode") == "idle":
            # a per-node figure only: the first node's (its sockets' node)
            for k, v in r.items():
                if "rss_per_socket" in k and isinstance(v, list) and v:
                    r["rss_B"] = v[0]
                    break
        elif "server_rss_per_conn_B" in r:
            r["rss_B"] = r["server_rss_per_conn_B"]
    return rows


def median(rows, system, key, conc=None):
    """The median of key over the rows of system (at conc if given)."""
    v = [r[key] for r in rows if r.get("system") == system and
         (conc is None or r.get("conc") == conc) and
         isinstance(r.get(key), (int, float)) and
         not isinstance(r.get(key), bool)]
    if not v:
        return None, 0
    return statistics.median(v), len(v)


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "{:.0f}".format(v)
    if a >= 10:
        return "{:.1f}".format(v)
    return "{:.2f}".format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def cell(conf, peer):
    """A peer's cell: its figure and Confab/peer; conf, peer: lists."""
    if all(p is None for p in peer):
        return "–"
    vals = " / ".join(fmt(p) for p in peer)
    rs = [ratio(c, p) for c, p in zip(conf, peer)]
    if all(r is None for r in rs):
        return vals
    return "{} ({})".format(vals, " / ".join(
        "–" if r is None else "{:.2f}×".format(r) for r in rs))


def report(out_dir, concs, cpu_conc, n):
    rows = load(out_dir + "/all.jsonl")
    systems = {r.get("system") for r in rows}
    peers = [(p, name) for p, name in PEERS if p in systems]
    rounds = sorted({r.get("round") for r in rows
                     if isinstance(r.get("round"), int)})
    table = []

    def row(label, conf, peer_vals):
        """conf: Confab's figures; peer_vals: {peer: figures}."""
        if all(c is None for c in conf) and all(
                all(v is None for v in vs) for vs in peer_vals.values()):
            return
        cells = [label, " / ".join(fmt(c) for c in conf)]
        for p, _ in peers:
            cells.append(cell(conf, peer_vals.get(p, [None] * len(conf))))
        table.append("| " + " | ".join(cells) + " |")

    def fig(system, key, conc=None):
        return median(rows, system, key, conc)[0]

    send_peers = [p for p, _ in peers if p != "nodews"]
    transports = [(s, t) for s, t in [
        ("confab-http", "HTTP"), ("confab-ws", "WebSocket"),
        ("confab-httppipe", "HTTP, 16 connections pipelined")]
                  if s in systems] or [("confab-http", "HTTP")]
    for c in concs:
        for sysname, tr in transports:
            if sysname == "confab-httppipe" and fig(sysname, "ops_s",
                                                    c) is None:
                continue  # run only where it differs from HTTP
            row("c={} sends/s, Confab over {}".format(c, tr),
                [fig(sysname, "ops_s", c)],
                {p: [fig(p, "ops_s", c)] for p in send_peers})
            row("c={} ack p50 / p99 ms, over {}".format(c, tr),
                [fig(sysname, "p50_ms", c), fig(sysname, "p99_ms", c)],
                {p: [fig(p, "p50_ms", c), fig(p, "p99_ms", c)]
                 for p in send_peers})
    for sysname, what in transports + [
            ("confab-http-nosearch", "HTTP, confabd --search=off")]:
        if sysname not in systems and sysname != transports[0][0]:
            continue
        row("server CPU per ack at c={}, µs (all nodes; Confab over {})".format(
            cpu_conc, what),
            [fig(sysname, "cpu_us", cpu_conc)],
            {p: [fig(p, "cpu_us", cpu_conc)] for p in send_peers})
    conf_rss = fig("confab-idle", "rss_B")
    row("RSS per idle WebSocket, KiB ({:,} sockets on one node/server)".format(
        n), [None if conf_rss is None else conf_rss / 1024],
        {"nodews": [None if fig("nodews", "rss_B") is None
                    else fig("nodews", "rss_B") / 1024]})
    row("one message to {:,} sockets: last delivery ms".format(n),
        [fig("confab-fanout", "last_ms")],
        {"nodews": [fig("nodews", "last_ms")]})
    row("the same, last delivery ms on Confab's leader / followers' sockets",
        [fig("confab-fanout", "leader_last_ms"),
         fig("confab-fanout", "follower_last_ms")], {})
    head = ["figure (medians of {} round{})".format(
        len(rounds), "" if len(rounds) == 1 else "s"), "Confab"]
    head += [name for _, name in peers]
    lines = ["| " + " | ".join(head) + " |",
             "| " + " | ".join(["---"] * len(head)) + " |"] + table
    notes = []
    cpu_src = {r.get("cpu_src") for r in rows
               if r.get("system", "").startswith("confab-")
               and r.get("cpu_src")}
    if "proc" in cpu_src:
        notes.append("Confab's CPU per ack from /proc over the whole run "
                     "(set-up and 1 s warm-up included, divided by "
                     "sends/s × (seconds + 1)): this confab-bench has no "
                     "--pid.")
    errs = ["{} c={} round {}: {}".format(r["system"], r.get("conc"),
                                          r.get("round"), r["errors"])
            for r in rows if r.get("system", "").startswith("confab-") and
            isinstance(r.get("errors"), int) and r["errors"] > 0]
    for k in ("missing", "failed"):
        errs += ["{} round {}: {} {}".format(r["system"], r.get("round"),
                                            r[k], k)
                 for r in rows if r.get("system", "").startswith("confab-")
                 and isinstance(r.get(k), int) and r[k] > 0]
    if errs:
        notes.append("Confab runs with errors (non-2xx answers, failed "
                     "connections, sockets or deliveries): " +
                     "; ".join(errs) + ".")
    fan = [r for r in rows if r.get("system") == "confab-fanout"]
    if fan:
        cc, _ = median(rows, "confab-fanout", "client_cpu_s")
        last = fan[-1]
        shape = ""
        if last.get("members") and last.get("devices"):
            shape = ", {} group(s) of {} members with {} device(s) each".format(
                last.get("groups", 1), last["members"], last["devices"])
        if last.get("procs"):
            shape += ", {} client processes".format(last["procs"])
        if last.get("rate"):
            shape += ", {} messages/s".format(last["rate"])
        notes.append("Confab fan-out: sockets spread over the 3 nodes{}{}; "
                     "last delivery = median over the messages of the "
                     "slowest socket's delay{}."
                     .format(shape,
                             ", client CPU {} s".format(fmt(cc))
                             if cc is not None else "",
                             "; Node ws: median over its rounds, one client "
                             "process" if "nodews" in systems else ""))
    if table and peers:
        notes.append("Each peer cell: its figure (Confab/peer). Above 1: "
                     "Confab higher (better for sends/s, worse for ms, "
                     "CPU and memory).")
    if not table:
        lines = ["(no figures: every system was skipped or failed)"]
    text = "\n".join(lines + [""] + ["- " + s for s in notes]) + "\n"
    with open(out_dir + "/table.md", "w") as f:
        f.write(text)
    sys.stdout.write(text)
    # chart data: sends/s and p99 by concurrency for every sending system
    for sysname in ["confab-http", "confab-ws"] + send_peers:
        pts = []
        for c in concs:
            o, p = fig(sysname, "ops_s", c), fig(sysname, "p99_ms", c)
            if o is not None and p is not None:
                pts.append("{} {} {}".format(c, o, p))
        if pts:
            with open("{}/chart-{}.dat".format(out_dir, sysname), "w") as f:
                f.write("\n".join(pts) + "\n")


def main(argv):
    if len(argv) >= 3 and argv[1] == "tag":
        tag(argv[2], argv[3] if len(argv) > 3 else "0", argv[4:])
        return 0
    if len(argv) == 6 and argv[1] == "report":
        report(argv[2], [int(c) for c in argv[3].split()], int(argv[4]),
               int(argv[5]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
