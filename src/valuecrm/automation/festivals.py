"""Chinese festivals a greeting rule can be scheduled on: the one table of them.

Lunar festivals are converted to the solar date of each year with `lunardate`
(covers lunar years 1900–2099); solar ones fall on a fixed month/day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Festival:
    key: str
    name: object  # lazy English name, translated to 中文 in the catalogue
    lunar: bool
    month: int
    day: int


FESTIVALS: tuple[Festival, ...] = (
    Festival("spring_festival", _("Spring Festival (Chinese New Year)"), True, 1, 1),
    Festival("lantern", _("Lantern Festival"), True, 1, 15),
    Festival("dragon_boat", _("Dragon Boat Festival"), True, 5, 5),
    Festival("qixi", _("Qixi Festival"), True, 7, 7),
    Festival("mid_autumn", _("Mid-Autumn Festival"), True, 8, 15),
    Festival("double_ninth", _("Double Ninth Festival"), True, 9, 9),
    Festival("new_year", _("New Year's Day"), False, 1, 1),
    Festival("national_day", _("National Day"), False, 10, 1),
    Festival("singles_day", _("Singles' Day (Double 11)"), False, 11, 11),
)
BY_KEY = {f.key: f for f in FESTIVALS}


def festival_date(key: str, year: int) -> dt.date | None:
    """The solar date of festival `key` in solar year `year` (None outside the lunar table's range)."""
    f = BY_KEY[key]
    if not f.lunar:
        return dt.date(year, f.month, f.day)
    from lunardate import LunarDate

    try:
        # Every festival here falls in lunar months 1–9, so in the solar year of its lunar year.
        return LunarDate(year, f.month, f.day).to_solar_date()
    except ValueError:
        return None


def festival_choices() -> list[tuple[str, str]]:
    return [(f.key, str(f.name)) for f in FESTIVALS]
