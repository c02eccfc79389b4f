#!/usr/bin/env python3
"""Check that compose.yaml wires the servers exactly as DESIGN section 2
allows: two servers share a network only for an allowed call, a server's
database and object store share networks with that server alone, and only
the per-server public networks reach outside. Exit 1 with each breach."""
import copy
import itertools
import pathlib
import sys

import yaml

SERVERS = ["hospital", "company", "dev", "owner"]
ALLOWED = {frozenset(e) for e in [("hospital", "company"), ("hospital", "owner"),
                                  ("owner", "company"), ("company", "dev")]}

def breaches_of(doc):
    """Every way `doc` departs from the call graph."""
    nets = {name: set() for name in doc["networks"]}
    for svc, body in doc["services"].items():
        for n in body.get("networks", []):
            nets[n].add(svc)
    breaches = []
    for a, b in itertools.combinations(SERVERS, 2):
        shared = [n for n, members in nets.items() if a in members and b in members]
        if shared and frozenset((a, b)) not in ALLOWED:
            breaches.append(f"{a} and {b} share {shared}: no call between them is allowed")
        if not shared and frozenset((a, b)) in ALLOWED:
            breaches.append(f"{a} and {b} share no network: their allowed call cannot happen")
    for n, members in nets.items():
        owners = {owner_of(m) for m in members}
        backing = [m for m in members if m not in SERVERS]
        if backing and len(owners) > 1:
            breaches.append(f"network {n} joins {sorted(members)}: a backing service is shared")
        external = not (doc["networks"][n] or {}).get("internal", False)
        if external and (len(members) != 1 or not members <= set(SERVERS)):
            breaches.append(f"network {n} reaches outside but holds {sorted(members)}")
    for svc, body in doc["services"].items():
        if svc in SERVERS and (body.get("user") == "root" or "ALL" not in body.get("cap_drop", [])):
            breaches.append(f"{svc} keeps capabilities")
    return breaches


def owner_of(svc):
    """The server a service belongs to (hospital-db -> hospital)."""
    return svc.split("-")[0]


def self_test(doc):
    """The check must catch each kind of breach (a check that cannot fail proves nothing)."""
    cases = {
        "dev joins the hospital-company edge": lambda d: d["services"]["dev"]["networks"].append("hospital-to-company"),
        "the company-dev edge is gone": lambda d: d["services"]["dev"]["networks"].remove("company-to-dev"),
        "owner reaches the hospital's database": lambda d: d["services"]["owner"]["networks"].append("hospital-data"),
        "an edge network reaches outside": lambda d: d["networks"].__setitem__("owner-to-company", {}),
        "a server keeps its capabilities": lambda d: d["services"]["company"].__setitem__("cap_drop", []),
    }
    for name, breach in cases.items():
        broken = copy.deepcopy(doc)
        breach(broken)
        if not breaches_of(broken):
            sys.exit(f"self-test: the check misses '{name}'")


doc = yaml.safe_load((pathlib.Path(__file__).parent / "compose.yaml").read_text())
self_test(doc)
breaches = breaches_of(doc)
nets = doc["networks"]
for b in breaches:
    print("breach:", b)
pairs = len(list(itertools.combinations(SERVERS, 2)))
print(f"compose.yaml: {pairs} server pairs, {len(nets)} networks, {len(breaches)} breaches (self-test: 5 breaches caught)")
sys.exit(1 if breaches else 0)
