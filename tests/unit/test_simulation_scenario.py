"""Scenario files: every section read into its dataclass, unknown keys and bad values named."""

from __future__ import annotations

import pytest

from stockpilot.simulation.scenario import BUILTIN, ScenarioError, load_scenario


def test_a_toml_scenario_is_read_whole(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('source = "generated"\nskus = 30\ndays = 50\nseed = 7\n'
                    "[simulation]\nwarmup_days = 40\nreview_days = 3\n"
                    "[simulation.sweeps]\nstockpilot = [0.9, 0.95]\n"
                    "[costs]\nordering_cost = 5.5\n"
                    "[operations]\nenabled = false\nduplicate = 0.4\n")
    s = load_scenario(str(path))
    assert (s.name, s.source, s.skus, s.days, s.seed) == ("mine", "generated", 30, 50, 7)
    assert s.sim.warmup_days == 40 and s.sim.review_days == 3 and s.sim.sweeps["stockpilot"] == (0.9, 0.95)
    assert s.sim.sweeps["naive"] == BUILTIN["retail"].sim.sweeps["naive"]  # the other sweeps keep their defaults
    assert s.sim.costs.ordering_cost == 5.5 and s.sim.costs.holding_rate == 0.25
    assert not s.ops.enabled and s.ops.duplicate == 0.4
    assert s.overridden(skus=5, seed=1).skus == 5


@pytest.mark.parametrize(("text", "message"), [
    ('source = "csv"\n', "source: 'retail' or 'generated'"),
    ('colour = "red"\n', "unknown key(s) colour"),
    ("[costs]\nrent = 1\n", "[costs]: unknown key(s) rent"),
    ("[operations]\nfaults = 1\n", "[operations]: unknown key(s) faults"),
    ("[simulation.sweeps]\nstockpilot = [0.9]\n", "must include its default knob 0.95"),
    ("[simulation.sweeps]\nmagic = [1]\n", "[simulation.sweeps]: unknown key(s) magic"),
    ("skus = [1]\n", "mine.toml"),
    ("skus = \n", "mine.toml"),
])
def test_bad_scenarios_are_named(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    assert message in str(caught.value)


def test_builtins_and_data_only_for_retail():
    assert {"retail", "generated", "faults", "faults-large", "faults-lost"} <= set(BUILTIN)
    with pytest.raises(ScenarioError, match="--data applies to retail"):
        BUILTIN["generated"].overridden(data="x.csv")
