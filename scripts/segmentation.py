#!/usr/bin/env python3
"""make segmentation: the four servers on four networks, and the proof that
only the calls of DESIGN section 2 get through.

Creates one Linux network namespace per server, joined by one veth pair per
allowed call (hospital -> company, hospital -> owner, owner -> company,
company -> dev; link-local /30 addresses, no forwarding), with a firewall in
each namespace that admits only the callee's internal port on the edges
where it is called. Starts the real binaries in them in production mode
(TLS on every listener, no demo, secrets from files), runs the flows that
cross the plane, then tries every forbidden edge at the network layer and
every wrong identity at the application layer, and prints each as
edge x expected x observed. Exit 1 on any difference.

Needs root, `ip` and `nft` (CI runs as root). Without them it says why and
exits 0 ("skipped"), unless BULKHEAD_REQUIRE_NETNS=1 (CI), where it fails.
Traffic stays inside the namespaces it makes; all of them are removed at
the end, also on failure or Ctrl-C.

  scripts/segmentation.py [--bin-dir target/debug]
  scripts/segmentation.py probe ...   (internal: runs inside a namespace)
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SERVERS = {"hospital": 3001, "company": 3002, "dev": 3003, "owner": 4001}
INTERNAL = {"company": 3102, "dev": 3103, "owner": 4101}
# (caller, callee): edge n uses 169.254.n.1 (caller) and 169.254.n.2 (callee).
EDGES = [("hospital", "company"), ("hospital", "owner"), ("owner", "company"), ("company", "dev")]
# Internal routes and the identities each admits (DESIGN section 2; the
# call graph table of docs/security.md). "company" on company's anchors is
# the operator's own check of dev's chain.
ROUTES = {
    "company": [
        ("POST", "/internal/v1/security-events", {"hospital", "owner"}),
        ("POST", "/internal/v1/audit-anchors", {"hospital", "owner", "company"}),
        ("GET", "/internal/v1/audit-anchors", {"hospital", "owner", "company"}),
    ],
    "dev": [
        ("GET", "/internal/v1/security-events?after=0", {"company"}),
        ("GET", "/internal/v1/audit/head", {"company"}),
    ],
    "owner": [
        ("GET", "/internal/v1/whoami", {"hospital"}),
        ("POST", "/internal/v1/heartbeat", {"hospital"}),
        ("GET", "/internal/v1/provisioning", {"hospital"}),
    ],
}
PREFIX = {"hospital": "tenant", "company": "company", "dev": "dev", "owner": "owner"}


def addr(edge_index, side):
    return f"169.254.{edge_index + 1}.{1 if side == 'caller' else 2}"


def addresses(server):
    """(edge index, address) of each of `server`'s ends."""
    out = []
    for i, (a, b) in enumerate(EDGES):
        if server == a:
            out.append((i, addr(i, "caller")))
        if server == b:
            out.append((i, addr(i, "callee")))
    return out


def sh(*args, check=True, **kw):
    r = subprocess.run(list(args), check=False, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(args)}\n{r.stdout}{r.stderr}")
    return r


def totp(secret_b32, step, digits=6):
    """RFC 6238 (HMAC-SHA1, 30 s steps) for a base32 secret."""
    import base64
    import hashlib
    import hmac
    import struct
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


# --- the probe, run inside a namespace ------------------------------------

def probe(argv):
    p = argparse.ArgumentParser(prog="probe")
    p.add_argument("kind", choices=["tcp", "https"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--method", default="GET")
    p.add_argument("--path", default="/")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--body")
    p.add_argument("--bearer")
    a = p.parse_args(argv)
    result = {}
    try:
        sock = socket.create_connection((a.host, a.port), timeout=2)
        if a.kind == "tcp":
            result["open"] = True
            sock.close()
        else:
            ctx = ssl.create_default_context(cafile=a.ca)
            ctx.check_hostname = False  # identities are URI SANs; the CA is ours
            if a.cert:
                ctx.load_cert_chain(a.cert, a.key)
            tls = ctx.wrap_socket(sock, server_hostname=a.host)
            body = (a.body or "").encode()
            headers = [f"{a.method} {a.path} HTTP/1.1", f"Host: {a.host}", "Connection: close",
                       f"Content-Length: {len(body)}", "Content-Type: application/json"]
            if a.bearer:
                headers.append(f"Authorization: Bearer {a.bearer}")
            tls.sendall(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
            data = b""
            tls.settimeout(5)
            while True:
                try:
                    chunk = tls.recv(65536)
                except (ssl.SSLError, OSError) as e:
                    if not data:
                        raise e
                    break
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            result["status"] = int(head.split(b" ")[1]) if head else 0
            result["body"] = rest.decode(errors="replace")
    except (OSError, ssl.SSLError, ValueError) as e:
        result["error"] = f"{type(e).__name__}: {e}"
        result["open"] = False
    print(json.dumps(result))


# --- the harness ------------------------------------------------------------

class Harness:
    def __init__(self, bin_dir):
        self.bin = Path(bin_dir).resolve()
        self.run_id = secrets.token_hex(2)
        self.work = Path(tempfile.mkdtemp(prefix="bulkhead-seg-"))
        self.procs = {}
        self.namespaces = []
        self.tenant = str(uuid.uuid4())
        self.rows = []  # (layer, edge, expected, observed, ok)
        self.tokens = {}

    def ns(self, server):
        return f"bh{self.run_id}-{server}"

    # set-up
    def pki(self):
        bh = str(self.bin / "bulkhead")
        certs = self.work / "certs"
        sh(bh, "certs", "init", "--dir", str(certs))
        for s in SERVERS:
            if s != "hospital":  # its identity names the tenant owner gives it
                self.issue(s)
            sh(bh, "certs", "public", "--dns", "localhost", "--ip", "127.0.0.1", "--name", f"{s}-public", "--dir", str(certs))
        # A certificate of another CA, with a valid-looking identity.
        other = self.work / "other-ca"
        sh(bh, "certs", "init", "--dir", str(other))
        sh(bh, "certs", "issue", "--service", "company", "--ip", "127.0.0.1", "--dir", str(other))

    def issue(self, s):
        ips = sum((["--ip", a] for _, a in addresses(s)), [])
        tenant = ["--tenant", self.tenant] if s == "hospital" else []
        sh(str(self.bin / "bulkhead"), "certs", "issue", "--service", s, *tenant, *ips,
           "--dir", str(self.work / "certs"))

    def register_hospital(self):
        """Owner registers the hospital (its id goes into the hospital's
        certificate and configuration; its first admin is provisioned)."""
        owner = self.admin_token("owner")
        self.first_admin = ("chief@seg.example.org", "Seg-" + secrets.token_urlsafe(18))
        status, body = self.api("owner", "POST", "/tenants", owner, {
            "companyName": "Segment Hospital", "subdomain": "segment",
            "tenantDbName": "hospital_segment", "region": "local",
            "firstAdmin": {"email": self.first_admin[0], "password": self.first_admin[1],
                           "firstName": "Ada", "lastName": "Chief"}})
        self.record("flow", "owner registers the hospital", "201", str(status))
        if status != 201:
            raise SystemExit(f"registration: {status} {body}")
        self.tenant = body["data"]["tenant"]["id"]
        self.issue("hospital")
        self.write_config("hospital")

    def secret(self, server, name, value):
        path = self.work / server / name
        path.write_text(value)
        path.chmod(0o600)
        return path

    def configs(self):
        for s in SERVERS:
            (self.work / s).mkdir(mode=0o700)
            self.secret(s, "jwt", secrets.token_urlsafe(48))
            self.secret(s, "admin-password", "Seg-" + secrets.token_urlsafe(18))
            if s == "hospital":
                self.secret(s, "master-key", secrets.token_hex(32))
            else:  # the hospital's waits for its tenant id
                self.write_config(s)

    def write_config(self, s):
        certs, d, port = self.work / "certs", self.work / s, SERVERS[s]
        lines = [
            "[server]", 'host = "0.0.0.0"', f"port = {port}",
            f'tls_cert = "{certs}/{s}-public.crt"', f'tls_key = "{certs}/{s}-public.key"',
            "[database]", f'url = "sqlite://{d}/{s}.db"',
            "[auth]", f'jwt_secret_file = "{d}/jwt"', "bcrypt_cost = 4",
            "[bootstrap]", f'admin_username = "{s}-admin"', f'admin_password_file = "{d}/admin-password"',
            "[plane]", "enabled = true", 'host = "0.0.0.0"',
            f"port = {INTERNAL.get(s, port + 100)}",
            f'cert = "{certs}/{s}.crt"', f'key = "{certs}/{s}.key"',
            f'ca = "{certs}/ca.crt"', f'crl = "{certs}/ca.crl"',
            "anchor_interval_secs = 1", "outbox_interval_secs = 1",
        ]
        if s == "hospital":
            lines.append("heartbeat_interval_secs = 1")
        for caller, callee in EDGES:
            if caller == s:
                i = EDGES.index((caller, callee))
                lines.append(f'{callee}_url = "https://{addr(i, "callee")}:{INTERNAL[callee]}"')
        if s == "hospital":
            lines += ["[crypto]", f'master_key_file = "{d}/master-key"',
                      "[tenancy]", 'mode = "onsite"', f'tenant_id = "{self.tenant}"']
        lines += ["[log]", 'format = "json"', 'level = "info"']
        (d / "config.toml").write_text("\n".join(lines) + "\n")

    def network(self):
        for s in SERVERS:
            sh("ip", "netns", "add", self.ns(s))
            self.namespaces.append(self.ns(s))
            sh("ip", "-n", self.ns(s), "link", "set", "lo", "up")
        for i, (a, b) in enumerate(EDGES):
            va, vb = f"bh{self.run_id}e{i}a", f"bh{self.run_id}e{i}b"
            sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
            for dev, server, side in ((va, a, "caller"), (vb, b, "callee")):
                sh("ip", "link", "set", dev, "netns", self.ns(server))
                sh("ip", "-n", self.ns(server), "addr", "add", f"{addr(i, side)}/30", "dev", dev)
                sh("ip", "-n", self.ns(server), "link", "set", dev, "up")
        # The firewall: a callee admits its internal port on the edges where
        # it is called; nothing else comes in from any edge.
        for s in SERVERS:
            rules = ['iif "lo" accept', "ct state established,related accept"]
            for i, (a, b) in enumerate(EDGES):
                if b == s:
                    rules.append(f'iifname "bh{self.run_id}e{i}b" tcp dport {INTERNAL[s]} accept')
            ruleset = ("table inet bulkhead {\n  chain input {\n"
                       "    type filter hook input priority 0; policy drop;\n"
                       + "".join(f"    {r}\n" for r in rules) + "  }\n}\n")
            sh("ip", "netns", "exec", self.ns(s), "nft", "-f", "-", input=ruleset)

    def start(self, servers):
        for s in servers:
            d = self.work / s
            log = open(d / "server.log", "wb")
            self.procs[s] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(s), str(self.bin / f"{s}-server"),
                 "--config", str(d / "config.toml")],
                cwd=d, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
            deadline = time.time() + 30
            while time.time() < deadline:
                if self.procs[s].poll() is not None:
                    raise SystemExit(f"{s}-server exited:\n{(d / 'server.log').read_text()[-3000:]}")
                r = self.https(s, s, "127.0.0.1", SERVERS[s], "GET", "/healthz")
                if r.get("status") == 200:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit(f"{s}-server did not answer /healthz")

    # probes
    def run_probe(self, ns, args):
        out = sh("ip", "netns", "exec", ns, sys.executable, __file__, "probe", *args, check=False)
        try:
            return json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            return {"error": out.stderr.strip()[-300:]}

    def https(self, from_server, _to, host, port, method, path, identity=None, body=None,
              bearer=None, ca_dir="certs"):
        certs = self.work / "certs"
        args = ["https", host, str(port), "--method", method, "--path", path,
                "--ca", str(certs / "ca.crt")]
        if identity:
            idir = self.work / ca_dir
            args += ["--cert", str(idir / f"{identity}.crt"), "--key", str(idir / f"{identity}.key")]
        if body is not None:
            args += ["--body", body]
        if bearer:
            args += ["--bearer", bearer]
        return self.run_probe(self.ns(from_server), args)

    def login(self, s, username, password):
        body = json.dumps({"username": username, "password": password})
        return self.https(s, s, "127.0.0.1", SERVERS[s], "POST",
                          f"/api/v1/{PREFIX[s]}/auth/login", body=body)

    def api(self, s, method, path, token=None, body=None):
        r = self.https(s, s, "127.0.0.1", SERVERS[s], method, f"/api/v1/{PREFIX[s]}{path}",
                       body=None if body is None else json.dumps(body), bearer=token)
        return r.get("status"), json.loads(r.get("body") or "{}")

    def admin_token(self, s):
        """The first admin's access token. Admin roles must use a second
        factor outside demo mode: enrol a TOTP authenticator (RFC 6238,
        computed here), then sign in with the password and a backup code.
        Kept for the run (a TOTP code is accepted once)."""
        if s in self.tokens:
            return self.tokens[s]
        pw = (self.work / s / "admin-password").read_text()
        r = self.login(s, f"{s}-admin", pw)
        if r.get("status") != 200:
            raise SystemExit(f"{s}: the first admin cannot log in: {r}")
        enrolling = json.loads(r["body"])["data"]["access_token"]
        status, setup = self.api(s, "POST", "/auth/mfa/totp/setup", enrolling, {})
        if status != 200:
            raise SystemExit(f"{s}: MFA setup: {status} {setup}")
        code = totp(setup["data"]["secret"], int(time.time()) // 30)
        status, on = self.api(s, "POST", "/auth/mfa/totp/confirm", enrolling, {"code": code})
        if status != 200:
            raise SystemExit(f"{s}: MFA confirm: {status} {on}")
        r = self.login(s, f"{s}-admin", pw)
        pending = json.loads(r["body"])["data"]
        if not pending.get("mfa_required"):
            raise SystemExit(f"{s}: the admin signs in without a second factor: {pending}")
        status, done = self.api(s, "POST", "/auth/mfa/verify", None,
                                {"mfa_token": pending["mfa_token"],
                                 "code": on["data"]["backup_codes"][0]})
        if status != 200:
            raise SystemExit(f"{s}: MFA verify: {status} {done}")
        self.tokens[s] = done["data"]["access_token"]
        return self.tokens[s]

    def record(self, layer, edge, expected, observed):
        self.rows.append((layer, edge, expected, observed, expected == observed))

    # the flows that cross the plane
    def flows(self):
        company = self.admin_token("company")
        for s in ["hospital", "owner"]:
            r = self.login(s, "nobody-" + s, "wrong-password-1")
            self.record("flow", f"{s}: failed login", "401", str(r.get("status")))
        deadline = time.time() + 30
        seen = set()
        anchors = set()
        while time.time() < deadline and (len(seen) < 2 or len(anchors) < 3):
            r = self.https("company", "company", "127.0.0.1", 3002, "GET",
                           "/api/v1/company/security-events?page_size=100", bearer=company)
            for e in json.loads(r.get("body") or "{}").get("data", []):
                if e.get("kind", "").startswith("auth.login"):
                    seen.add(e.get("source_service", ""))
            for s in ["hospital", "owner", "dev"]:
                tenant = f"&tenant={self.tenant}" if s == "hospital" else ""
                r = self.https("company", "company", "127.0.0.1", 3002, "GET",
                               f"/api/v1/company/audit-anchors?service={s}{tenant}", bearer=company)
                if json.loads(r.get("body") or "{}").get("data"):
                    anchors.add(s)
            time.sleep(0.5)
        self.record("flow", "hospital+owner failed logins reach company", "hospital,owner",
                    ",".join(sorted(seen & {"hospital", "owner"})))
        self.record("flow", "anchors of hospital, owner, dev reach company", "dev,hospital,owner",
                    ",".join(sorted(anchors & {"hospital", "owner", "dev"})))
        r = self.https("hospital", "owner", addr(1, "callee"), 4101, "GET", "/internal/v1/whoami",
                       identity="hospital")
        self.record("flow", "hospital -> owner whoami", "200", str(r.get("status")))
        # The first admin owner registered, provisioned over the plane.
        status = None
        deadline = time.time() + 30
        while time.time() < deadline and status != 200:
            status = self.login("hospital", *self.first_admin).get("status")
            time.sleep(0.5)
        self.record("flow", "the first admin registered on owner signs in on the hospital",
                    "200", str(status))
        owner = self.admin_token("owner")
        health = None
        deadline = time.time() + 30
        while time.time() < deadline and health != "healthy":
            _, body = self.api("owner", "GET", f"/tenants/{self.tenant}/database-health", owner)
            health = (body.get("data") or {}).get("status")
            time.sleep(0.5)
        self.record("flow", "owner sees the hospital's heartbeat", "healthy", str(health))

    # the network layer: every (source, destination, address, port)
    def network_layer(self):
        for src in SERVERS:
            for dst in SERVERS:
                if src == dst:
                    continue
                opened, expected_open = [], []
                for i, a in addresses(dst):
                    for port in [SERVERS[dst]] + ([INTERNAL[dst]] if dst in INTERNAL else []):
                        r = self.run_probe(self.ns(src), ["tcp", a, str(port)])
                        if r.get("open"):
                            opened.append(f"{a}:{port}")
                        if EDGES[i] == (src, dst) and port == INTERNAL.get(dst):
                            expected_open.append(f"{a}:{port}")
                expected = " ".join(expected_open) or "nothing"
                observed = " ".join(opened) or "nothing"
                self.record("network", f"{src} -> {dst}", expected, observed)

    # the application layer: each identity on each internal route
    def application_layer(self):
        for dst, routes in ROUTES.items():
            # Probe from a namespace that can reach dst (its first caller).
            src, i = next((a, i) for i, (a, b) in enumerate(EDGES) if b == dst)
            host = addr(i, "callee")
            for method, path, allowed in routes:
                for identity in SERVERS:
                    body = "{}" if method == "POST" else None
                    r = self.https(src, dst, host, INTERNAL[dst], method, path,
                                   identity=identity, body=body)
                    status = r.get("status")
                    if status == 403:
                        observed = "403"
                    elif status and status < 500:
                        observed = "admitted"
                    elif "SSLError" in r.get("error", ""):
                        observed = "refused"
                    else:
                        observed = f"error {status or r.get('error', '')}"
                    # dev's certificate is for serving only (no clientAuth):
                    # the handshake itself refuses it, before any route.
                    expected = ("admitted" if identity in allowed
                                else "refused" if identity == "dev" else "403")
                    self.record("application", f"{identity} cert -> {dst} {method} {path}",
                                expected, observed)
            # No certificate, and a certificate of another CA: no handshake.
            for label, identity, ca_dir in (("no certificate", None, "certs"),
                                            ("another CA's certificate", "company", "other-ca")):
                r = self.https(src, dst, host, INTERNAL[dst], "GET", routes[0][1],
                               identity=identity, ca_dir=ca_dir)
                observed = "refused" if "status" not in r or not r.get("status") else str(r["status"])
                self.record("application", f"{label} -> {dst}", "refused", observed)

    def refusals_reach_company(self):
        """Each wrong identity refused on a route is a `cert.refused` event;
        company's list shows those of company, owner and dev (pulled)."""
        company = self.admin_token("company")
        want = {"company", "owner", "dev"}
        seen = set()
        deadline = time.time() + 30
        while time.time() < deadline and seen != want:
            r = self.https("company", "company", "127.0.0.1", 3002, "GET",
                           "/api/v1/company/security-events?kind=cert.refused&page_size=100",
                           bearer=company)
            for e in json.loads(r.get("body") or "{}").get("data", []):
                seen.add(e.get("source_service", ""))
            time.sleep(0.5)
        self.record("flow", "cert.refused events of company, owner, dev reach company",
                    ",".join(sorted(want)), ",".join(sorted(seen & want)))

    def register_patient(self):
        """A patient with names no other data contains, read once (audited)."""
        token = self.admin_token("hospital")
        self.phi = ["Quartzfeather", "Zebulonia", "1931-07-19"]
        body = json.dumps({"first_name": "Zebulonia", "last_name": "Quartzfeather",
                           "date_of_birth": "1931-07-19", "sex": "female"})
        r = self.https("hospital", "hospital", "127.0.0.1", 3001, "POST",
                       "/api/v1/tenant/patients", body=body, bearer=token)
        self.record("flow", "hospital: register a patient", "201", str(r.get("status")))
        if r.get("status") == 201:
            data = json.loads(r["body"])["data"]
            self.phi.append(data["mrn"])
            self.patient_id = data["id"]
            r = self.https("hospital", "hospital", "127.0.0.1", 3001, "GET",
                           f"/api/v1/tenant/patients/{data['id']}", bearer=token)
            self.record("flow", "hospital: read the patient", "200", str(r.get("status")))

    def drills(self):
        """What a stolen server gives: its certificate and key act only as
        itself, and no PHI is in any other server's files."""
        # The hospital's certificate naming another tenant.
        other = str(uuid.uuid4())
        batch = json.dumps({"events": [{
            "id": str(uuid.uuid4()), "seq": 1, "kind": "auth.login_failed",
            "severity": "warning", "actor": "drill", "tenant_id": other, "details": {},
            "occurred_at": "2026-01-01T00:00:00"}]})
        r = self.https("hospital", "company", addr(0, "callee"), 3102, "POST",
                       "/internal/v1/security-events", identity="hospital", body=batch)
        self.record("drill", "hospital cert sends events as another tenant", "403",
                    str(r.get("status")))
        r = self.https("hospital", "company", addr(0, "callee"), 3102, "GET",
                       f"/internal/v1/audit-anchors?tenant={other}", identity="hospital")
        body = json.loads(r.get("body") or "{}")
        leaked = [a for a in body.get("data", []) if a.get("source_tenant") == other]
        self.record("drill", "hospital cert reads another tenant's anchors",
                    "403 or none", "403 or none" if r.get("status") == 403 or not leaked
                    else f"{r.get('status')} with {len(leaked)} anchors")
        company = self.admin_token("company")
        seen = False
        deadline = time.time() + 15
        while time.time() < deadline and not seen:
            r = self.https("company", "company", "127.0.0.1", 3002, "GET",
                           "/api/v1/company/security-events?kind=plane.tenant_mismatch",
                           bearer=company)
            seen = bool(json.loads(r.get("body") or "{}").get("data"))
            time.sleep(0.5)
        self.record("drill", "the tenant mismatch is on company's list", "yes",
                    "yes" if seen else "no")

    def phi_bytes(self):
        """After the servers stop: no PHI in the files of company, dev and
        owner (databases, WAL, logs), nor in plaintext in the hospital's."""
        for s in SERVERS:
            found = []
            for f in sorted((self.work / s).iterdir()):
                if f.is_file():
                    data = f.read_bytes()
                    found += [f"{v} in {f.name}" for v in self.phi if v.encode() in data]
            self.record("drill", f"PHI bytes in {s}'s files", "none", "; ".join(found) or "none")
        # The control: the search does read the files (the patient's id,
        # which is not PHI, is in the hospital's database).
        pid = getattr(self, "patient_id", "no patient").encode()
        hit = any(pid in f.read_bytes() for f in (self.work / "hospital").iterdir() if f.is_file())
        self.record("drill", "control: the patient's id is in the hospital's files", "yes",
                    "yes" if hit else "no")

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    def report(self):
        width = max(len(r[1]) for r in self.rows)
        print(f"\n{'layer':<12} {'edge':<{width}}  {'expected':<28} observed")
        for layer, edge, expected, observed, ok in self.rows:
            mark = "" if ok else "   <-- DIFFERS"
            print(f"{layer:<12} {edge:<{width}}  {expected:<28} {observed}{mark}")
        bad = [r for r in self.rows if not r[4]]
        print(f"\nsegmentation: {len(self.rows)} checks, {len(self.rows) - len(bad)} as expected, "
              f"{len(bad)} differ")
        return not bad

    def cleanup(self):
        for s, p in self.procs.items():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def missing_prerequisite():
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            return f"needs `{tool}` (apt-get install {'iproute2' if tool == 'ip' else 'nftables'})"
    probe_ns = f"bhprobe{os.getpid()}"
    r = sh("ip", "netns", "add", probe_ns, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    sh("ip", "netns", "del", probe_ns, check=False)
    return None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        return probe(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin-dir", default="target/debug")
    a = p.parse_args()
    why = missing_prerequisite()
    if why:
        if os.environ.get("BULKHEAD_REQUIRE_NETNS") == "1":
            sys.exit(f"segmentation: cannot run: {why}")
        print(f"segmentation: SKIPPED: {why}")
        return 0
    h = Harness(a.bin_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        h.pki()
        h.configs()
        h.network()
        h.start(["dev", "company", "owner"])
        h.register_hospital()
        h.start(["hospital"])
        h.flows()
        h.register_patient()
        h.network_layer()
        h.application_layer()
        h.refusals_reach_company()
        h.drills()
        h.stop()
        h.phi_bytes()
        ok = h.report()
    finally:
        h.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
