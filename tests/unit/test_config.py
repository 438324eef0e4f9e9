"""Settings: defaults, then the TOML file, then STOCKPILOT_* variables; a bad value names where it came from."""

from __future__ import annotations

import pytest

from stockpilot.config import ConfigError, Settings


def test_file_then_environment_then_overrides(tmp_path, monkeypatch):
    config = tmp_path / "stockpilot.toml"
    config.write_text('oversell_window_seconds = 3\nsmtp_url = "smtp://127.0.0.1:2525"\nack_deadline_hours = 72\n')
    monkeypatch.setenv("STOCKPILOT_CONFIG", str(config))
    monkeypatch.setenv("STOCKPILOT_ACK_DEADLINE_HOURS", "96")
    settings = Settings.from_env(service_level=0.9)
    assert settings.oversell_window_seconds == 3.0 and settings.smtp_url == "smtp://127.0.0.1:2525"
    assert settings.ack_deadline_hours == 96.0 and settings.service_level == 0.9
    assert settings.ack_reminder_hours == 24.0  # untouched default


def test_bad_values_and_unknown_keys_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./stockpilot.toml here
    monkeypatch.setenv("STOCKPILOT_DB_POOL_SIZE", "ten")
    with pytest.raises(ConfigError, match="STOCKPILOT_DB_POOL_SIZE: expected int, got 'ten'"):
        Settings.from_env()
    monkeypatch.delenv("STOCKPILOT_DB_POOL_SIZE")
    (tmp_path / "stockpilot.toml").write_text("windw = 3\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.from_env()
    monkeypatch.setenv("STOCKPILOT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        Settings.from_env()


def test_alert_routes_come_from_toml_tables_or_json_in_the_environment(tmp_path, monkeypatch):
    from stockpilot.domain.alerts import parse_routes

    config = tmp_path / "stockpilot.toml"
    config.write_text('alert_merge_minutes = 5\n\n[[alert_routes]]\nkinds = ["oversell"]\nurls = ["json://h/x"]\n\n'
                      '[[alert_routes]]\nsuppliers = ["kilnco"]\nurls = ["mailto://h"]\ndigest = true\n')
    monkeypatch.setenv("STOCKPILOT_CONFIG", str(config))
    settings = Settings.from_env()
    routes = parse_routes(settings.alert_routes)
    assert settings.alert_merge_minutes == 5.0
    assert [(sorted(r.kinds), sorted(r.suppliers), r.digest) for r in routes] == [(["oversell"], [], False),
                                                                                  ([], ["KILNCO"], True)]
    monkeypatch.setenv("STOCKPILOT_ALERT_ROUTES", '[{"tags": ["fragile"], "urls": ["json://h/y"]}]')
    (route,) = parse_routes(Settings.from_env().alert_routes)
    assert route.tags == {"fragile"} and route.urls == ("json://h/y",)
