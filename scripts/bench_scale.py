#!/usr/bin/env python3
"""`make bench-scale`: the patient lists and search at a hospital's size.

Starts a real hospital-server (release build, demo data, SQLite; and
PostgreSQL when BULKHEAD_TEST_PG_URL is set), registers --patients patients
through the API, puts the demo doctor on the care team of --teams of them,
then drives with wrk: the doctor's patient list (page 1 and 3), the admin's
list (page 1 and 50), a search by last name (admin) and by full name
(reception), the admin's view of one patient's access log (the audit rows
of every request before it are in the same table), and the doctor's audited
read of one patient. Prints req/s,
p99 and the server's CPU per request for each — the figures that grew with
the tenant's size before session 20 (docs/benchmarks.md).

Only loopback is contacted; every load run is bounded (--duration); the
server, its temporary folder and the PostgreSQL database are removed at the
end, also on failure.
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_http as B  # noqa: E402


def post_all(port, token, items, request, workers=6):
    """POST `request(item)` = (path, body) for every item on `workers`
    keep-alive connections; the parsed answers."""
    answers = [[] for _ in range(workers)]
    failed = []

    def run(mine, out):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for item in mine:
                path, body = request(item)
                conn.request("POST", B.PREFIX + path, json.dumps(body),
                             {"content-type": "application/json", "authorization": "Bearer " + token})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status not in (200, 201):
                    failed.append(f"{path}: {resp.status} {data[:200]!r}")
                    return
                out.append(json.loads(data))
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(items[i::workers], answers[i])) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise SystemExit(failed[0])
    return [a for out in answers for a in out]


def run_backend(name, db_url, args):
    work = tempfile.mkdtemp(prefix="bulkhead-scale-")
    server = None
    try:
        subprocess.run([os.path.join(args.bin_dir, "bulkhead"), "certs", "demo"],
                       cwd=work, check=True, capture_output=True)
        # bcrypt cost 4: the logins are not what is measured here.
        server = B.Server(args.bin_dir, work, db_url, 4)
        base = server.base
        admin, doctor, patient, doctor_id = B.arrange(base)
        reception = B.login(base, "reception", "reception123")
        made = post_all(server.port, reception, list(range(args.patients)), lambda i: (
            "/patients", {"first_name": f"F{i}", "last_name": f"L{i}",
                          "date_of_birth": "1980-02-03", "sex": "female"}))
        ids = [m["data"]["id"] for m in made]
        step = max(1, len(ids) // max(args.teams, 1))
        post_all(server.port, admin, ids[::step][:max(args.teams - 1, 0)], lambda p: (
            f"/patients/{p}/care-team", {"user_id": doctor_id}))
        if db_url.startswith("postgres"):
            subprocess.run(["psql", db_url.split("?")[0], "-qc", "ANALYZE"], check=True)
        pick = min(777, args.patients - 1)
        loads = [
            ("doctor's list", "/patients?page_size=20", doctor),
            ("doctor's list, page 3", "/patients?page_size=20&page=3", doctor),
            ("admin's list", "/patients?page_size=20", admin),
            ("admin's list, page 50", "/patients?page_size=20&page=50", admin),
            ("admin's search, last name", f"/patients?search=L{pick}&page_size=20", admin),
            ("reception's search, full name", f"/patients?search=F{pick}%20L{pick}&page_size=20", reception),
            # Every request above and each registration wrote audit rows:
            # the access log of one patient reads that patient's rows only.
            ("admin's view of a patient's access log", f"/patients/{ids[0]}/access-log?page_size=20", admin),
            ("doctor's audited read", f"/patients/{patient}", doctor),
        ]
        print(f"\n## {name}: {args.patients:,} patients, the doctor on {args.teams} care teams "
              f"({args.connections} connections, {args.duration} s each)\n")
        print("| request | req/s | p99 ms | non-2xx | server CPU µs/request |")
        print("|---|---:|---:|---:|---:|")
        for label, path, token in loads:
            before = B.cpu_seconds(server.proc.pid)
            r = B.wrk(base + B.PREFIX + path, args.duration, args.connections, args.threads,
                      [f"Authorization: Bearer {token}"])
            cpu = (B.cpu_seconds(server.proc.pid) - before) / max(r["requests"], 1) * 1e6
            print(f"| {label} | {r['rps']:,.0f} | {r['p99_us']/1000:.1f} | {r['non2xx'] + r['errors']} | {cpu:,.0f} |",
                  flush=True)
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--bin-dir", help="where the release binaries are (default: REPO/target/release)")
    p.add_argument("--patients", type=int, default=20000)
    p.add_argument("--teams", type=int, default=50)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    args.patients = max(1, min(args.patients, 200000))
    args.teams = max(1, min(args.teams, args.patients))
    args.duration = max(1, min(args.duration, 60))
    args.bin_dir = os.path.abspath(args.bin_dir or os.path.join(args.repo, "target/release"))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install wrk)")
    run_backend("SQLite", "sqlite://data/hospital.db", args)
    pg = os.environ.get("BULKHEAD_TEST_PG_URL", "").strip()
    if pg:
        name, url = B.pg_database(pg)
        try:
            run_backend("PostgreSQL", url, args)
        finally:
            subprocess.run(["psql", pg, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    else:
        print("\nPostgreSQL: skipped (set BULKHEAD_TEST_PG_URL to run it)")


if __name__ == "__main__":
    sys.exit(main())
