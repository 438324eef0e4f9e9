"""Scenarios: the built-in names (`retail`, `generated`, `faults`) and TOML files of the same shape.

    name = "my-run"                 # optional (the file's stem)
    source = "retail"               # "retail" (a transaction file) or "generated"
    data = "../shared/data/online_retail.csv.gz"   # retail only; relative to the current directory
    skus = 1000                     # how many SKUs (retail: drawn from the qualifying codes)
    days = 365                      # simulated days after the warm-up (retail: at most what the file holds)
    seed = 1
    min_sale_days = 30              # retail SKU rule (see simulation/catalog.py)
    [simulation]                    # any SimConfig field: warmup_days, settle_days, review_days, cover_days, ...
    [simulation.sweeps]             # per policy, the knob values to run (must include the default)
    [costs]                         # holding_rate, ordering_cost, lost_margin_factor
    [operations]                    # the real-services run: any OpsConfig field (see simulation/operations.py)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from stockpilot.simulation.model import DEFAULT_SWEEPS, Costs, SimConfig

DEFAULT_DATA = "../shared/data/online_retail.csv.gz"


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class OpsConfig:
    """The operations run through the real services (simulation/operations.py).

    Webhook faults are shares of order deliveries: `duplicate` sent again with the same webhook-id, `redelivered`
    sent again as a new delivery (new webhook-id, same order), `late` held back 1-6 hours, `lost` never sent;
    `out_of_order` is the share of cancelled orders whose cancel arrives before the order. `outage` is the share of
    supplier API calls answered 503; `silent_supplier` makes the preferred supplier of every third SKU never
    acknowledge (escalation, then re-routing to the backup, as in production); `no_supplier_share` of the SKUs have no
    offer at all, so their oversells must land in the review queue with that reason."""

    enabled: bool = True
    skus: int = 12
    days: int = 10
    duplicate: float = 0.0
    redelivered: float = 0.0
    late: float = 0.0
    lost: float = 0.0
    out_of_order: float = 0.0
    cancel_share: float = 0.05
    outage: float = 0.0
    silent_supplier: bool = False
    no_supplier_share: float = 0.0  # the last SKUs (this share) have no supplier offer: their POs go to review
    oversell_window_seconds: float = 10.0
    stock_days: float = 3.0  # initial on hand = this many days of the SKU's mean demand (so oversells happen)


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str
    data: str | None = None
    skus: int = 1000
    days: int | None = None
    seed: int = 1
    min_sale_days: int = 30
    sim: SimConfig = field(default_factory=SimConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)

    def overridden(self, *, data: str | None = None, skus: int | None = None, seed: int | None = None,
                   days: int | None = None) -> Scenario:
        changes: dict[str, Any] = {k: v for k, v in (("data", data), ("skus", skus), ("seed", seed),
                                                      ("days", days)) if v is not None}
        if data is not None and self.source != "retail":
            raise ScenarioError(f"--data applies to retail scenarios; {self.name!r} is {self.source}")
        return replace(self, **changes)


FAULTS = OpsConfig(skus=12, days=10, duplicate=0.2, redelivered=0.1, late=0.1, lost=0.05, out_of_order=0.5,
                   cancel_share=0.1, outage=0.2, silent_supplier=True)
CLEAN = OpsConfig(skus=8, days=7)
_ONE_FAULT = {  # one fault at a time, each heavier than in the mix; a day of stock, so oversells are frequent
    "faults-duplicate": OpsConfig(skus=8, days=7, stock_days=1.0, duplicate=0.5, redelivered=0.3),
    "faults-late": OpsConfig(skus=8, days=7, stock_days=1.0, late=0.4),
    "faults-out-of-order": OpsConfig(skus=8, days=7, stock_days=1.0, cancel_share=0.3, out_of_order=1.0),
    "faults-lost": OpsConfig(skus=8, days=7, stock_days=1.0, lost=0.2),
    "faults-supplier": OpsConfig(skus=8, days=7, stock_days=1.0, outage=0.4, silent_supplier=True,
                                 no_supplier_share=0.125),
}
BUILTIN: dict[str, Scenario] = {
    "retail": Scenario("retail", "retail", data=DEFAULT_DATA, skus=1000, ops=CLEAN),
    "generated": Scenario("generated", "generated", skus=1000, days=365, ops=CLEAN),
    "faults": Scenario("faults", "generated", skus=200, days=120, ops=FAULTS),
    # the operations part at a size where a share of oversells means something (minutes, not seconds)
    "faults-large": Scenario("faults-large", "generated", skus=50, days=30,
                             ops=replace(FAULTS, skus=30, days=14, stock_days=1.0)),
    **{name: Scenario(name, "generated", skus=100, days=60, ops=ops) for name, ops in _ONE_FAULT.items()},
}


def load_scenario(name: str) -> Scenario:
    if name in BUILTIN:
        return BUILTIN[name]
    path = Path(name)
    if not path.is_file():
        raise ScenarioError(f"{name!r} is neither a built-in scenario ({', '.join(BUILTIN)}) nor a TOML file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return _from_doc(doc, path)


def _from_doc(doc: dict[str, Any], path: Path) -> Scenario:
    top = {"name", "source", "data", "skus", "days", "seed", "min_sale_days", "simulation", "costs", "operations"}
    _no_unknown(doc, top, str(path))
    source = doc.get("source", "generated")
    if source not in ("retail", "generated"):
        raise ScenarioError(f"{path}: source: 'retail' or 'generated', got {source!r}")
    sim_doc = dict(doc.get("simulation", {}))
    sweeps = sim_doc.pop("sweeps", None)
    sim_fields = {f.name for f in fields(SimConfig)} - {"sweeps", "costs"}
    _no_unknown(sim_doc, sim_fields, f"{path}: [simulation]")
    costs = doc.get("costs", {})
    _no_unknown(costs, {f.name for f in fields(Costs)}, f"{path}: [costs]")
    ops = doc.get("operations", {})
    _no_unknown(ops, {f.name for f in fields(OpsConfig)}, f"{path}: [operations]")
    try:
        merged_sweeps = dict(DEFAULT_SWEEPS)
        if sweeps is not None:
            _no_unknown(sweeps, set(DEFAULT_SWEEPS), f"{path}: [simulation.sweeps]")
            merged_sweeps.update({k: tuple(float(x) for x in v) for k, v in sweeps.items()})
        sim = SimConfig(**sim_doc, sweeps=merged_sweeps, costs=Costs(**costs))
        return Scenario(
            name=str(doc.get("name", path.stem)), source=source,
            data=doc.get("data", DEFAULT_DATA if source == "retail" else None),
            skus=int(doc.get("skus", 1000)), days=None if doc.get("days") is None else int(doc["days"]),
            seed=int(doc.get("seed", 1)), min_sale_days=int(doc.get("min_sale_days", 30)), sim=sim,
            ops=OpsConfig(**ops),
        )
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _no_unknown(section: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(section) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
