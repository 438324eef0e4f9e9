"""The replay simulator: policies compared on real or generated demand, and the real services under faults.

Pure core (no I/O, no clock): model, supply, generated, policies, engine, metrics, frontier. Drivers: scenario
(built-in names and TOML files), catalog (transaction files -> SKUs), operations (the real service stack on a
temporary SQLite file), run (one scenario end to end), report (files).
"""
