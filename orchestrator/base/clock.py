"""Time: aware UTC datetimes for timestamps; the monotonic clock for durations."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(moment: datetime, now: datetime) -> str:
    """A relative time for people: '12s ago', '5m ago', 'in 40s', '3d ago'."""
    seconds = (now - moment).total_seconds()
    amount = abs(seconds)
    if amount < 1:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if amount >= size:
            text = f"{int(amount // size)}{unit}"
            break
    return f"{text} ago" if seconds > 0 else f"in {text}"


def for_people(moment: datetime | str | None, now: datetime, *, never: str = "never") -> str:
    """The one form people read timestamps in, everywhere: relative, with the UTC time beside it
    (to the second within a day, the date further off). --json keeps iso()."""
    if isinstance(moment, str):
        moment = parse_iso(moment)
    if moment is None:
        return never
    moment = moment.astimezone(UTC)
    distance = abs((now - moment).total_seconds())
    stamp = moment.strftime("%H:%M:%SZ") if distance < 86400 else moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{ago(moment, now)} ({stamp})"
