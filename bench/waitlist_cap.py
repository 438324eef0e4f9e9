"""What the atomic per-contact frequency cap costs a back-in-stock wave, against the same wave with the cap off.

Each run is a fresh SQLite file: N contacts wait on SKUs A and B, N units of A arrive (wave A: every contact's first
notice), then N units of B (wave B: every contact's second, so each claims a further cap slot). Timed: the
`waitlist` consumer passes that decide the wave (marking entries, claiming slots, queueing the emails), with
`waitlist_cap_messages` = 0 (baseline: no slots) and = 3, alternating, best of `--rounds`.

Usage: python bench/waitlist_cap.py [--contacts 1000] [--rounds 3]
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations


def waves(cap: int, contacts: int) -> tuple[float, float]:
    clock = ManualClock()
    sp = build(Settings(database_url=f"sqlite:///{tempfile.mkdtemp()}/bench.db", waitlist_cap_messages=cap),
               clock=clock, migrate=True)
    try:
        sp.catalog.create_location("WH", "WH", "warehouse", 10)
        for sku in ("A", "B"):
            sp.catalog.upsert_sku(sku, {"title": sku})
            sp.stock.adjust(sku=sku, location="WH", on_hand=0, idempotency_key=f"seed:{sku}")
            for i in range(contacts):
                sp.waitlist.join(sku, f"c{i}@example.com", True)
        runner = ConsumerRunner(sp.db, clock, [c for c in automations(sp).consumers if c.name == "waitlist"],
                                worker_id="bench")
        while runner.run_once():
            pass
        timed = []
        for sku in ("A", "B"):
            sp.stock.adjust(sku=sku, location="WH", delta=contacts, kind="receive", idempotency_key=f"rcv:{sku}")
            start = time.perf_counter()
            while runner.run_once():
                pass
            timed.append(time.perf_counter() - start)
        return timed[0], timed[1]
    finally:
        sp.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best: dict[int, list[float]] = {0: [float("inf")] * 2, 3: [float("inf")] * 2}
    for _ in range(args.rounds):
        for cap in (0, 3):
            best[cap] = [min(old, new) for old, new in zip(best[cap], waves(cap, args.contacts), strict=True)]
    figures = {}
    for i, wave in enumerate(("first", "second")):
        off, on = best[0][i], best[3][i]
        figures[wave] = {"cap_off_s": round(off, 3), "cap_on_s": round(on, 3), "ratio": round(on / off, 2),
                         "us_per_notice_on": round(on / args.contacts * 1e6)}
        print(f"{wave} wave of {args.contacts}: cap off {off:.2f} s, cap 3 {on:.2f} s (x{on / off:.2f}, "
              f"{on / args.contacts * 1e3:.2f} ms a notice)")
    print(json.dumps({"contacts": args.contacts, "rounds": args.rounds, **figures}))


if __name__ == "__main__":
    main()
