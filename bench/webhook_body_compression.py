"""What PostgreSQL spends compressing stored webhook bodies: pglz (the default) against lz4 (migration 0017).

The captured Shopify `orders/create` sample (about 6 KB, over the 2 KB TOAST threshold), each copy with its own
order id, inserted into a `bytea` column `--statements` times, `--per-statement` rows a statement in autocommit
(the intake's shape), into three scratch tables that differ only in the column's compression: pglz, lz4, and
STORAGE EXTERNAL (no compression: the baseline). Rounds alternate the tables, so machine noise falls on all three.
Figures: the backend's CPU per body (from /proc, the server on this machine), wall time per statement, and the
stored size.

    python bench/webhook_body_compression.py [--pg-url URL]
The last line printed is one JSON object with every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import psycopg

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "shopify" / \
    "orders_create_captured_activepieces.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
SETTINGS = {"pglz": "COMPRESSION pglz", "lz4": "COMPRESSION lz4", "none": "STORAGE EXTERNAL"}


def backend_cpu(conn: psycopg.Connection) -> float:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    fields = Path(f"/proc/{row[0]}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("STOCKPILOT_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--statements", type=int, default=100)
    parser.add_argument("--per-statement", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    payload = json.loads(FIXTURE.read_text())
    suffix = os.getpid()
    tables = {name: f"bench_body_{name}_{suffix}" for name in SETTINGS}
    cpu: dict[str, float] = dict.fromkeys(SETTINGS, 0.0)
    wall: dict[str, float] = dict.fromkeys(SETTINGS, 0.0)
    with psycopg.connect(args.pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name, table in tables.items():
            conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, body bytea NOT NULL)")
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN body SET {SETTINGS[name]}")
        try:
            order_id, rows = 0, args.per_statement
            sql = {name: f"INSERT INTO {table} (body) VALUES " + ", ".join(["(%s)"] * rows)
                   for name, table in tables.items()}
            for _ in range(args.rounds):
                for name in SETTINGS:
                    bodies = []
                    for _ in range(args.statements * rows):
                        order_id += 1
                        bodies.append(json.dumps({**payload, "id": order_id}).encode())
                    cpu_before, started = backend_cpu(conn), time.perf_counter()
                    for start in range(0, len(bodies), rows):
                        conn.execute(sql[name], bodies[start:start + rows])
                    wall[name] += time.perf_counter() - started
                    cpu[name] += backend_cpu(conn) - cpu_before
            sizes = {name: int(conn.execute(f"SELECT pg_total_relation_size('{table}')").fetchone()[0])  # type: ignore[index]
                     for name, table in tables.items()}
        finally:
            for table in tables.values():
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    count = args.rounds * args.statements * rows
    figures = {name: {"backend_cpu_us_per_body": round(cpu[name] / count * 1e6, 1),
                      "wall_ms_per_statement": round(wall[name] / (args.rounds * args.statements) * 1e3, 3),
                      "stored_bytes_per_body": round(sizes[name] / count)} for name in SETTINGS}
    base = figures["none"]["backend_cpu_us_per_body"] or 1.0
    ratios = {"pglz_cpu_over_none": round(figures["pglz"]["backend_cpu_us_per_body"] / base, 2),
              "lz4_cpu_over_none": round(figures["lz4"]["backend_cpu_us_per_body"] / base, 2),
              "lz4_cpu_over_pglz": round(figures["lz4"]["backend_cpu_us_per_body"]
                                         / (figures["pglz"]["backend_cpu_us_per_body"] or 1.0), 2),
              "lz4_size_over_pglz": round(figures["lz4"]["stored_bytes_per_body"]
                                          / figures["pglz"]["stored_bytes_per_body"], 2)}
    print(f"{count} bodies of {len(json.dumps(payload))} bytes each per table, {rows} a statement")
    print(f"{'compression':<12} {'backend CPU us/body':>20} {'ms/statement':>13} {'stored bytes/body':>18}")
    for name, fig in figures.items():
        print(f"{name:<12} {fig['backend_cpu_us_per_body']:>20} {fig['wall_ms_per_statement']:>13} "
              f"{fig['stored_bytes_per_body']:>18}")
    print(f"ratios {ratios}")
    print(json.dumps({"benchmark": "webhook body compression", "config": vars(args), "figures": figures,
                      "ratios": ratios}, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
