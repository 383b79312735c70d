"""Moves etcd's leadership off this node when Patroni makes it the primary.

Patroni runs this as its on_start and on_role_change callback with three
arguments appended: the action, the new role and the cluster's scope.

Why: Patroni's leader key lives on an etcd lease. When the node that holds
both the Patroni leader and the etcd leader dies, etcd first elects a new
leader, and a new etcd leader renews every lease to its full TTL; the dead
primary's key then outlives it by a whole TTL counted from the election
instead of from its last renewal, and the failover takes that much longer.
With etcd's leader elsewhere, the lease runs out on its own clock.

Only the standard library: the script talks to etcd's JSON gateway, over
TLS when given the cluster CA (etcd's certificate must chain to it and name
the address dialled) and this node's certificate and key (etcd takes no
client without one).
"""

import argparse
import json
import ssl
import sys
import urllib.request
from typing import Any, Optional

PRIMARY_ROLES = {"primary", "master"}


def tls_context(cacert: Optional[str], cert: Optional[str], key: Optional[str]) -> Optional[ssl.SSLContext]:
    if cacert is None:
        return None
    context = ssl.create_default_context(cafile=cacert)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def call(
    endpoint: str,
    path: str,
    body: dict[str, Any],
    timeout: float,
    context: Optional[ssl.SSLContext],
) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etcd", required=True, help="this node's etcd client URL")
    parser.add_argument("--cacert", help="the CA of etcd's certificates (PEM)")
    parser.add_argument("--cert", help="this node's client certificate (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("action")
    parser.add_argument("role")
    parser.add_argument("scope")
    args = parser.parse_args()

    if args.role not in PRIMARY_ROLES:
        return 0
    context = tls_context(args.cacert, args.cert, args.key)
    status = call(args.etcd, "/v3/maintenance/status", {}, args.timeout, context)
    me = status["header"]["member_id"]
    if status.get("leader") != me:
        print(f"etcd-leader-away: etcd's leader is not this node ({args.action}, {args.role})")
        return 0
    members = call(args.etcd, "/v3/cluster/member/list", {}, args.timeout, context)["members"]
    for member in members:
        if member.get("ID") == me or not member.get("clientURLs"):
            continue
        try:
            call(member["clientURLs"][0], "/v3/maintenance/status", {}, args.timeout, context)
        except OSError as e:
            print(f"etcd-leader-away: {member.get('name')} does not answer ({e}); next")
            continue
        call(
            args.etcd,
            "/v3/maintenance/transfer-leadership",
            {"targetID": member["ID"]},
            args.timeout,
            context,
        )
        print(f"etcd-leader-away: etcd leadership moved to {member.get('name')}")
        return 0
    print("etcd-leader-away: no other etcd member answers; leadership stays here", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, KeyError, ValueError) as e:
        print(f"etcd-leader-away: {e!r}; leadership left where it is", file=sys.stderr)
        sys.exit(1)
