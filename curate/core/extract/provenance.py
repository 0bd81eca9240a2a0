"""Where and when a record was crawled: the `crawl` and `fetch_time` columns.

- crawl: the CommonCrawl crawl id in the path (`crawl-data/CC-MAIN-YYYY-WW/...`),
  else the `isPartOf` of the latest warcinfo record (WARC: its `application/warc-fields`
  block; WAT: the `WARC-Info-Metadata` CommonCrawl copied from the WARC's warcinfo),
  else a `CC-MAIN-YYYY-WW` id in that warcinfo's `description`, else None.
- fetch_time: the record's WARC-Date as a UTC datetime, None when unparsable.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_CRAWL_IN_PATH = re.compile(r"(?:^|/)crawl-data/(CC-MAIN-\d{4}-\d{2})/")
_CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
# ISO 8601 as WARC writes it (WARC 1.1 allows fractions of a second); ClueWeb09's
# WARC/0.18 writer put the day of the year where the day goes ("2008-10-294T05:21:46-0700").
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2,3})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
                  r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\Z", re.I)
_DIGITS14 = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\d*\Z")   # ARC dates


def crawl_from_path(path: str) -> str | None:
    match = _CRAWL_IN_PATH.search(path.replace("\\", "/"))
    return match.group(1) if match else None


def crawl_from_fields(fields: dict[str, str]) -> str | None:
    """The crawl a warcinfo's fields name: isPartOf, else a CC-MAIN id in description."""
    part = (fields.get("isPartOf") or "").strip()
    if part:
        return part
    match = _CRAWL_ID.search(fields.get("description") or "")
    return match.group(0) if match else None


def warc_fields(block: bytes) -> dict[str, str]:
    """The `name: value` lines of an application/warc-fields block (first of each name)."""
    fields: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and name.strip() not in fields:
            fields[name.strip()] = value.strip()
    return fields


def parse_warc_date(value: str | None) -> datetime | None:
    """A WARC-Date (or ARC 14-digit date) as an aware UTC datetime, None when unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        match = _ISO.match(value)
        if match:
            year, month, day, hour, minute, second, frac, zone = match.groups()
            if len(day) == 3:       # ClueWeb09: day of the year
                stamp = datetime(int(year), 1, 1) + timedelta(days=int(day) - 1)
            else:
                stamp = datetime(int(year), int(month), int(day))
            stamp = stamp.replace(hour=int(hour), minute=int(minute), second=int(second or 0),
                                  microsecond=int((frac or "0")[:6].ljust(6, "0")))
            return stamp.replace(tzinfo=_zone(zone)).astimezone(timezone.utc)
        match = _DIGITS14.match(value)
        if match:
            return datetime(*map(int, match.groups()), tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None
    return None


def _zone(zone: str | None) -> timezone:
    if not zone or zone.upper() == "Z":
        return timezone.utc
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return timezone(sign * timedelta(minutes=minutes))
