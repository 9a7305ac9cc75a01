"""What a search query asks about, read without a model: the time it points at, and whether it
asks about the one who asks (:func:`asks_about_asker`).

:func:`find_time` resolves time expressions ("in May 2023", "on 8 May, 2023", "October 13, 2023",
"in 2022", "in June", "yesterday", "last week", "3 days ago", ...) into a :class:`TimeSpan`
against a reference moment (the newest stored record, so an imported conversation is read as of
its own last day). "Last week", "the past weekend" and the like end with the reference day
itself: a question is put on or after the day of the newest record, so what that day holds (a
Sunday's message, asked about on the Tuesday after) is in the past the question means.
A pure function over plain data, tested without any store.

Speakers named in a query were measured too (boosting the named speaker's turns) and left out:
on LoCoMo it lifts the questions that name the right person a little and sinks those that name the
wrong one (category 5) a lot, so recall falls overall.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = ["TimeSpan", "asks_about_asker", "find_time"]

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
_MONTH = r"(?P<month>january|february|march|april|may|june|july|august|september|october|november|" \
         r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30, "year": 365, "years": 365}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a few": 3}

_ABSOLUTE = [  # most specific first; each yields (day?, month?, year?)
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I),
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.I),
    re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.I),
    re.compile(rf"\b(?:on|in|of)\s+{_DAY}\s+(?:of\s+)?{_MONTH}\b", re.I),
    re.compile(rf"\b(?:on|in)\s+{_MONTH}\s+{_DAY}\b", re.I),
    re.compile(rf"\b(?:in|during|since|before|after|by)\s+{_YEAR}\b", re.I),
    re.compile(rf"\b(?:in|during|early|late|mid|of)\s+(?:-\s*)?{_MONTH}\b", re.I),
]
_RELATIVE = re.compile(
    r"\b(?P<which>yesterday|today|tonight|this morning|last night|"
    r"(?:last|past|this|previous)\s+(?:week(?:end)?|month|year)|"
    r"(?P<n>\d+|a couple of|a few|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
    r"(?P<unit>days?|weeks?|months?|years?)\s+ago)\b",
    re.I,
)


@dataclass(frozen=True)
class TimeSpan:
    """A stretch of time a query points at: ``[start, end)`` in epoch seconds, or a month of any
    year (``month`` set, ``start``/``end`` ``None``) for "in June" without a year."""

    text: str
    """The words of the query that named it."""
    start: float | None = None
    end: float | None = None
    month: int | None = None
    relative: bool = False
    """Read from a reference moment ("last week"), not named outright ("in May 2023")."""

    def contains(self, epoch: float) -> bool:
        """Whether a moment falls inside the span."""
        if self.month is not None and self.start is None:
            return datetime.fromtimestamp(epoch, timezone.utc).month == self.month
        return self.start is not None and self.end is not None and self.start <= epoch < self.end


def _day_start(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def _absolute(match: re.Match[str]) -> TimeSpan | None:
    groups = match.groupdict()
    month = MONTHS.get((groups.get("month") or "").lower().rstrip("."))
    year = int(groups["year"]) if groups.get("year") else None
    day = int(groups["day"]) if groups.get("day") else None
    text = match.group(0)
    try:
        if year and month and day:  # one day, with a day of slack either side for time zones
            first = _day_start(year, month, day) - timedelta(days=1)
            return TimeSpan(text, first.timestamp(), (first + timedelta(days=3)).timestamp())
        if year and month:
            last = calendar.monthrange(year, month)[1]
            return TimeSpan(text, _day_start(year, month, 1).timestamp(),
                            (_day_start(year, month, last) + timedelta(days=1)).timestamp())
        if year:
            return TimeSpan(text, _day_start(year, 1, 1).timestamp(), _day_start(year + 1, 1, 1).timestamp())
    except ValueError:  # 31 February and the like: not a date
        return None
    if month and 1 <= (day or 1) <= 31:
        return TimeSpan(text, month=month)
    return None


def _relative(match: re.Match[str], reference: float) -> TimeSpan:
    now = datetime.fromtimestamp(reference, timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    which = " ".join(match.group("which").lower().split())
    if which in ("today", "tonight", "this morning"):
        start, end = today, today + timedelta(days=1)
    elif which in ("yesterday", "last night"):
        start, end = today - timedelta(days=1), today
    elif which.endswith("ago"):
        days = int(match.group("n")) if match.group("n").isdigit() else _NUMBERS[match.group("n").lower()]
        days *= _UNITS[match.group("unit").lower()]
        centre = today - timedelta(days=days)
        slack = timedelta(days=max(1, days // 4))  # "3 weeks ago" is rarely exactly 21 days
        start, end = centre - slack, centre + slack + timedelta(days=1)
    else:
        span = {"week": 7, "weekend": 4, "month": 31, "year": 366}[which.split()[-1]]
        start, end = today - timedelta(days=span if which.startswith("this") else 2 * span), today + timedelta(days=1)
    return TimeSpan(match.group(0), start.timestamp(), end.timestamp(), relative=True)


def find_time(query: str, reference: float | Callable[[], float | None] | None) -> TimeSpan | None:
    """The first time expression of ``query``, resolved. Relative ones ("last week") are read
    from ``reference`` (epoch seconds, or a function giving it, called only when needed)."""
    for pattern in _ABSOLUTE:
        for match in pattern.finditer(query):
            span = _absolute(match)
            if span is not None:
                return span
    relative = _RELATIVE.search(query)
    if relative is None:
        return None
    moment = reference() if callable(reference) else reference
    return _relative(relative, moment) if moment is not None else None


_FIRST_PERSON = re.compile(r"\b(?:i|me|my|myself)\b", re.I)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves)\b", re.I)


def asks_about_asker(query: str) -> bool:
    """Whether ``query`` asks about the one who asks: it speaks in the first person ("I", "my",
    "I'm") and addresses no one ("you", "your"). A user asking an assistant about their own life
    ("What degree did I graduate with?") wants what they said, not the assistant's replies; "what
    did you recommend?" asks for the assistant's words, and "What has Melanie painted?" names
    whom it asks about."""
    return _FIRST_PERSON.search(query) is not None and _SECOND_PERSON.search(query) is None
