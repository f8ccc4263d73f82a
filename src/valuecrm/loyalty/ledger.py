"""The ledger arithmetic, without the database: lots and first-to-expire-first consumption.

A row that adds available points opens a *lot* that expires at its ``expires_at``
(never, when None). Every row that takes available points away consumes lots in the
order they expire (FIFO by expiry, then by row), except an expiry, which empties its
own lot, and a reversal, which takes back its own order's lot first. Points taken
beyond what the lots hold are a *debt* (the balance is negative), which the next
credits pay off before they open a lot. So at every step

    Σ remaining(lots) − debt == Σ points == the available balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

_NEVER = datetime.max


@dataclass
class Lot:
    entry_id: int
    expires_at: datetime | None
    remaining: int


@dataclass
class Replay:
    lots: dict[int, Lot] = field(default_factory=dict)
    debt: int = 0
    # entry id of a debit → {lot entry id: points taken}, for the ledger page
    taken: dict[int, dict[int, int]] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots.values()) - self.debt

    def open_lots(self) -> list[Lot]:
        return sorted((lot for lot in self.lots.values() if lot.remaining > 0),
                      key=lambda lot: (lot.expires_at or _NEVER, lot.entry_id))

    def credit(self, entry_id: int, points: int, expires_at) -> None:
        paid = min(points, self.debt)
        self.debt -= paid
        self.lots[entry_id] = Lot(entry_id, expires_at, points - paid)

    def debit(self, entry_id: int, points: int, first_lot: int | None = None) -> None:
        """Take ``points`` (> 0): from ``first_lot`` first when given, then FIFO."""
        taken: dict[int, int] = {}
        order = self.open_lots()
        if first_lot is not None and first_lot in self.lots:
            order.sort(key=lambda lot: lot.entry_id != first_lot)
        left = points
        for lot in order:
            if left == 0:
                break
            n = min(lot.remaining, left)
            if n > 0:
                lot.remaining -= n
                taken[lot.entry_id] = n
                left -= n
        self.debt += left
        self.taken[entry_id] = taken


def replay(rows) -> Replay:
    """Rows are (id, kind, points, expires_at, lot_id) in ledger order; ``lot_id`` is the lot a
    reversal or expiry aims at (None otherwise)."""
    state = Replay()
    for entry_id, _kind, points, expires_at, lot_id in rows:
        if points > 0:
            state.credit(entry_id, points, expires_at)
        elif points < 0:
            state.debit(entry_id, -points, first_lot=lot_id)
    return state


def expirable(state: Replay, lot_id: int) -> int:
    lot = state.lots.get(lot_id)
    return lot.remaining if lot else 0
