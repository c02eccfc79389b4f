#!/usr/bin/env python3
"""`make bench-http`: drive a real hospital-server (release build, demo data)
with wrk over loopback and print, for each endpoint, req/s, p50/p99, errors,
the server's peak RSS and the ratio to /healthz measured in the same run;
then the ratio of the audited patient read to an unaudited read of similar
size; then concurrent same-user logins (steady-state rate, see `logins`)
against the bcrypt rate of the same cores; then a patient file (--file-mb, 1 GiB by default) uploaded and
downloaded through the API, streamed, beside a raw write and read of the
same bytes on the same disk, with the server's peak RSS during each. SQLite
always; PostgreSQL too when BULKHEAD_TEST_PG_URL is set.

Only loopback is contacted. Every load run is bounded (--duration seconds);
the server and its temporary folder (and PostgreSQL database) are removed at
the end, also on failure.
"""

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

PREFIX = "/api/v1/tenant"

LUA_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def login(base, user, password):
    status, body = call(base, "POST", PREFIX + "/auth/login", body={"username": user, "password": password})
    if status != 200:
        raise SystemExit(f"login {user}: {status} {body}")
    return body["data"]["access_token"]


def wrk(url, seconds, connections, threads, headers=(), lua_extra=""):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_extra + LUA_REPORT)
        script = f.name
    try:
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--timeout", "10s", "-s", script]
        for h in headers:
            cmd += ["-H", h]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
        for line in out.stdout.splitlines():
            if line.startswith("JSON"):
                r = json.loads(line[4:])
                r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
                return r
        raise SystemExit(f"wrk printed no report:\n{out.stdout}\n{out.stderr}")
    finally:
        os.unlink(script)


def logins(port, seconds, connections):
    """`connections` clients logging the same user in, each on its own
    keep-alive connection, for `seconds`. A login lasts about a second
    under this load, so a run's total over its duration undercounts: the
    logins still in flight at the end (up to one per connection) have used
    their bcrypt time but are not counted — wrk's figure. The steady-state
    rate counts the logins completed after the first `warm` seconds (when
    every client is past its first login) over that window."""
    import threading
    body = json.dumps({"username": "doctor", "password": "doctor123"})
    start = time.monotonic()
    deadline = start + seconds
    warm = min(2.0, seconds / 4)
    done, lock = [], threading.Lock()
    errors = [0]

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    conn.request("POST", PREFIX + "/auth/login", body, {"content-type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException):
                    with lock:
                        errors[0] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                t1 = time.monotonic()
                if t1 <= deadline:
                    with lock:
                        done.append((t1, t1 - t0, status))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steady = [d for d in done if d[0] >= start + warm]
    latencies = sorted(d[1] for d in done) or [0.0]
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {
        "rps": len(steady) / (seconds - warm),
        "all_rps": len(done) / seconds,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "errors": errors[0],
        "non2xx": sum(1 for d in done if d[2] != 200),
    }


def cpu_seconds(pid):
    """User + system CPU the process has used so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, bin_dir, work, db_url, bcrypt_cost):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update({
            "HOSPITAL__SERVER__HOST": "127.0.0.1",
            "HOSPITAL__SERVER__PORT": str(self.port),
            "HOSPITAL__DATABASE__URL": db_url,
            "HOSPITAL__AUTH__BCRYPT_COST": str(bcrypt_cost),
            "HOSPITAL__AUTH__LOGIN_ATTEMPTS_PER_MINUTE": "1000000",
            "RUST_LOG": "warn",
        })
        self.log = open(os.path.join(work, "hospital.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "hospital-server"), "--demo"],
            cwd=work, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"hospital-server exited; see {self.log.name}")
            try:
                if call(self.base, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("hospital-server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def arrange(base):
    """Demo logins, one patient on the doctor's care team."""
    admin = login(base, "hadmin", "hadmin123")
    doctor = login(base, "doctor", "doctor123")
    reception = login(base, "reception", "reception123")
    status, body = call(base, "POST", PREFIX + "/patients", reception, {
        "first_name": "Bench", "last_name": "Patient", "date_of_birth": "1980-02-03", "sex": "female"})
    assert status == 201, body
    patient = body["data"]["id"]
    _, me = call(base, "GET", PREFIX + "/auth/me", doctor)
    doctor_id = me["data"]["id"]
    status, body = call(base, "POST", f"{PREFIX}/patients/{patient}/care-team", admin, {"user_id": doctor_id})
    assert status == 201, body
    for path, token in [(f"/patients/{patient}", doctor), (f"/users/{doctor_id}", admin)]:
        status, body = call(base, "GET", PREFIX + path, token)
        assert status == 200, (path, body)
    return admin, doctor, patient, doctor_id


def audit_rows(base, admin, action):
    status, body = call(base, "GET", f"{PREFIX}/audit?action={action}&page_size=1", admin)
    assert status == 200, body
    return body["meta"]["total"]


def reset_peak_rss(pid):
    """Start a new high-water mark (Linux: clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def files_bench(server, admin, doctor, patient, doctor_id, work, mb):
    """Upload and download `mb` MiB through the API vs a raw write/read."""
    base = server.base
    status, body = call(base, "POST", PREFIX + "/file-workspaces", admin,
                        {"module": "radiology", "doctor_id": doctor_id})
    assert status == 201, body
    status, body = call(base, "GET", f"{PREFIX}/file-folders?patient_id={patient}", doctor)
    assert status == 200 and body["data"], body
    folder = next(f["id"] for f in body["data"] if f["module"] == "radiology")
    block = 1 << 20
    src = os.path.join(work, "source.png")
    with open(src, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + os.urandom(block - 8))
        for _ in range(mb - 1):
            f.write(os.urandom(block))
    size = mb * block

    # Raw write of the same bytes to the same disk (fsync'd, as the store does).
    t = time.perf_counter()
    with open(src, "rb") as r, open(os.path.join(work, "raw.bin"), "wb") as w:
        while chunk := r.read(block):
            w.write(chunk)
        w.flush()
        os.fsync(w.fileno())
    raw_write = time.perf_counter() - t

    # Upload, streamed (chunked transfer encoding).
    tracked = reset_peak_rss(server.proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)

    def body_chunks():
        with open(src, "rb") as r:
            while chunk := r.read(block):
                yield chunk

    t = time.perf_counter()
    conn.request("POST", f"{PREFIX}/file-folders/{folder}/files?category=imaging&name=bench.png",
                  body=body_chunks(), encode_chunked=True,
                  headers={"authorization": "Bearer " + doctor,
                           "content-type": "application/octet-stream"})
    res = conn.getresponse()
    reply = json.loads(res.read())
    upload = time.perf_counter() - t
    assert res.status == 201, reply
    file_id = reply["data"]["id"]
    upload_rss = peak_rss_mb(server.proc.pid)
    conn.close()

    # Raw read vs download, both consumed and hashed.
    def digest(stream):
        h = hashlib.sha256()
        while chunk := stream.read(block):
            h.update(chunk)
        return h.hexdigest()

    t = time.perf_counter()
    with open(os.path.join(work, "raw.bin"), "rb") as r:
        want = digest(r)
    raw_read = time.perf_counter() - t
    reset_peak_rss(server.proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    t = time.perf_counter()
    conn.request("GET", f"{PREFIX}/files/{file_id}/content",
                 headers={"authorization": "Bearer " + doctor})
    res = conn.getresponse()
    assert res.status == 200, res.status
    got = digest(res)
    download = time.perf_counter() - t
    download_rss = peak_rss_mb(server.proc.pid)
    conn.close()
    assert got == want, "the download differs from the upload"
    mbps = lambda secs: size / secs / 1e6
    print(f"\n### A {mb} MiB patient file (encrypted, streamed, through HTTP on loopback)\n")
    print("| | MB/s | ratio | server peak RSS MB |")
    print("|---|---:|---:|---:|")
    print(f"| raw write (fsync) | {mbps(raw_write):,.0f} | 1.00 | |")
    print(f"| upload | {mbps(upload):,.0f} | {raw_write/upload:.2f} (target ≥ 0.9) | "
          f"{upload_rss:.1f}{'' if tracked else ' (whole run)'} |")
    print(f"| raw read | {mbps(raw_read):,.0f} | 1.00 | |")
    print(f"| download | {mbps(download):,.0f} | {raw_read/download:.2f} (target ≥ 0.8) | "
          f"{download_rss:.1f}{'' if tracked else ' (whole run)'} |")
    for f in ("source.png", "raw.bin"):
        os.remove(os.path.join(work, f))


def run_backend(name, repo, db_url, args, bcrypt_rate):
    work = tempfile.mkdtemp(prefix="bulkhead-bench-")
    server = None
    try:
        subprocess.run([os.path.join(args.bin_dir, "bulkhead"), "certs", "demo"],
                       cwd=work, check=True, capture_output=True)
        server = Server(args.bin_dir, work, db_url, args.bcrypt_cost)
        base = server.base
        admin, doctor, patient, doctor_id = arrange(base)
        if args.only_files:
            print(f"\n## {name}: the patient file only (a fresh server, no load before it)")
            files_bench(server, admin, doctor, patient, doctor_id, work, args.file_mb)
            return
        reads_before = audit_rows(base, admin, "patient.read")
        load = [
            ("GET /healthz", base + "/healthz", None),
            ("GET /users?page_size=20 (admin)", f"{base}{PREFIX}/users?page_size=20", admin),
            ("GET /departments (admin)", f"{base}{PREFIX}/departments", admin),
            ("GET /users/{id} (unaudited read)", f"{base}{PREFIX}/users/{doctor_id}", admin),
            ("GET /patients/{id} (audited read)", f"{base}{PREFIX}/patients/{patient}", doctor),
        ]
        results = []
        for label, url, token in load:
            headers = [f"Authorization: Bearer {token}"] if token else []
            before = cpu_seconds(server.proc.pid)
            r = wrk(url, args.duration, args.connections, args.threads, headers)
            # The server's CPU per request: steadier than req/s on a shared
            # machine, and where a change in the request's own work shows.
            r["cpu_us"] = (cpu_seconds(server.proc.pid) - before) / max(r["requests"], 1) * 1e6
            results.append((label, r))
        rss = peak_rss_mb(server.proc.pid)
        audited = results[-1][1]
        reads_after = audit_rows(base, admin, "patient.read")
        health = results[0][1]["rps"]
        print(f"\n## {name}  ({args.connections} connections, {args.threads} wrk threads, {args.duration} s each)\n")
        print(f"| request | req/s | p50 ms | p99 ms | errors | non-2xx | × /healthz | server CPU µs/request |")
        print(f"|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, r in results:
            print(f"| {label} | {r['rps']:,.0f} | {r['p50_us']/1000:.2f} | {r['p99_us']/1000:.2f} | "
                  f"{r['errors']} | {r['non2xx']} | {r['rps']/health:.3f} | {r['cpu_us']:.0f} |")
        unaudited = results[-2][1]["rps"]
        print(f"\naudited patient read / unaudited user read: {audited['rps']/unaudited:.2f}")
        answered = audited["requests"] - audited["non2xx"] - audited["errors"]
        print(f"audit rows written by the audited load: {reads_after - reads_before:,} "
              f"(responses completed by wrk: {answered:,}; wrk does not count replies cut off at the end)")

        # Concurrent same-user logins.
        r = logins(server.port, args.duration, args.connections)
        print(f"\nPOST /auth/login, same user, {args.connections} connections, bcrypt cost {args.bcrypt_cost}: "
              f"{r['rps']:,.1f} req/s in the steady state ({r['all_rps']:,.1f} over the whole run), "
              f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, errors {r['errors']}, "
              f"non-2xx {r['non2xx']}; bcrypt on the same cores {bcrypt_rate:,.1f}/s "
              f"→ ratio {r['rps']/bcrypt_rate:.2f}")
        rss = max(rss, peak_rss_mb(server.proc.pid))
        print(f"\nserver peak RSS: {rss:.1f} MB")
        if args.file_mb > 0:
            files_bench(server, admin, doctor, patient, doctor_id, work, args.file_mb)
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def pg_database(admin_url):
    name = "bh_bench_" + uuid.uuid4().hex[:12]
    base, _, _ = admin_url.rpartition("/")
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    return name, f"{base}/{name}?sslmode=disable"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--bin-dir", help="where the release binaries are (default: REPO/target/release)")
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bcrypt-cost", type=int, default=10)
    p.add_argument("--file-mb", type=int, default=1024, help="patient file size (0: skip)")
    p.add_argument("--only-files", action="store_true",
                   help="only the patient file, on a fresh server (its RSS not raised by the load runs)")
    args = p.parse_args()
    args.duration = max(1, min(args.duration, 60))
    args.file_mb = max(0, min(args.file_mb, 4096))
    args.bin_dir = os.path.abspath(args.bin_dir or os.path.join(args.repo, "target/release"))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (apt-get install wrk)")
    rate = float(subprocess.run(
        [os.path.join(args.bin_dir, "bulkhead"), "bench", "bcrypt",
         "--cost", str(args.bcrypt_cost), "--seconds", "3"],
        check=True, capture_output=True, text=True).stdout.strip())
    run_backend("SQLite", args.repo, "sqlite://data/hospital.db", args, rate)
    pg = os.environ.get("BULKHEAD_TEST_PG_URL", "").strip()
    if pg:
        name, url = pg_database(pg)
        try:
            run_backend("PostgreSQL", args.repo, url, args, rate)
        finally:
            subprocess.run(["psql", pg, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    else:
        print("\nPostgreSQL: skipped (set BULKHEAD_TEST_PG_URL to run it)")


if __name__ == "__main__":
    sys.exit(main())
