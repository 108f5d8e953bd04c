from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.base.clock import ago, for_people, iso

NOW = datetime(2026, 12, 3, 8, 30, 0, tzinfo=UTC)


def test_relative_times_past_and_future():
    assert ago(NOW - timedelta(seconds=12), NOW) == "12s ago"
    assert ago(NOW - timedelta(minutes=5, seconds=59), NOW) == "5m ago"
    assert ago(NOW - timedelta(hours=3, minutes=1), NOW) == "3h ago"
    assert ago(NOW - timedelta(days=2, hours=5), NOW) == "2d ago"
    assert ago(NOW + timedelta(seconds=40), NOW) == "in 40s"
    assert ago(NOW, NOW) == "just now"


def test_one_form_for_people_from_a_datetime_or_the_json_string():
    moment = NOW - timedelta(seconds=90)
    assert for_people(moment, NOW) == for_people(iso(moment), NOW) == "1m ago (08:28:30Z)"
    assert for_people(NOW - timedelta(days=3), NOW) == "3d ago (2026-11-30 08:30:00Z)"
    assert for_people(None, NOW) == "never"
