"""Row errors as codes and parameters, rendered in the reader's language.

An import runs in the worker, in the language of whoever started it, but its row
errors are read later by anyone who may see the run — on the result page, in the
failed-rows CSV and through the API. So a row error is stored as a code and its
parameters (`ImportRowError.code`, `.params`) and turned into text when it is
shown, with the viewer's translations. `reason` keeps the text as first written,
for errors without a code (a custom field's own validation message) and for runs
stored before codes existed.

The message templates are the msgids the catalogues already translate; a cleaner
raises `RowProblem(code, **params)` where it used to raise a formatted ValueError.
"""

from django.utils.translation import gettext
from django.utils.translation import gettext_noop as N_

MESSAGES: dict[str, str] = {
    # cells
    "required": N_("This field is required."),
    "too_long": N_("Enter at most %(n)d characters."),
    "null_character": N_("Null characters are not allowed."),
    "currency": N_("Enter a three-letter currency code such as CNY."),
    "tag_too_long": N_("Tag names must be at most %(n)d characters."),
    "date_range": N_("Enter a date between %(min)d and %(max)d."),
    "not_calendar_date": N_("%(value)s is not a calendar date."),
    "not_time": N_("“%(value)s” is not a time of day."),
    "not_serial_date": N_("%(value)s is not a spreadsheet date number."),
    "date_missing": N_("Enter a date."),
    "not_date": N_("“%(value)s” is not a date (use e.g. 2024-03-05 or 2024年3月5日)."),
    "amount_missing": N_("Enter an amount."),
    "not_amount": N_("“%(value)s” is not an amount."),
    "negative_amount": N_("The amount must not be negative (%(value)s)."),
    "not_yes_no": N_("“%(value)s” is not yes or no."),
    "not_choice": N_("“%(value)s” is not one of: %(choices)s."),
    "not_phone": N_("“%(value)s” is not a valid phone number."),
    "not_email": N_("“%(value)s” is not a valid email address."),
    # rows
    "column_unmapped": N_("No column is mapped to “%(field)s”."),
    "customer_ref_missing": N_("Give the customer's id, email or phone."),
    "row_malformed": N_("The row is malformed (%(error)s); the file may be cut off."),
    "row_width": N_("The row has %(found)d values but the header has %(expected)d "
                    "columns (is the file cut off or a delimiter missing?)."),
    "json_line": N_("The line is not valid JSON (%(error)s)."),
    "json_not_object": N_("Expected an object with fields."),
    # what the writers find
    "custom_required": N_("Required custom field missing: %(keys)s."),
    "key_not_visible": N_("A customer with this %(key)s exists but is not visible to you."),
    "merge_target_missing": N_("The customer to merge into was not found."),
    "customer_missing": N_("The customer was not found."),
    "no_customer_with": N_("No customer with %(value)s."),
    "customer_not_visible": N_("The customer %(value)s is not visible to you."),
    "catalogue_forbidden": N_("Only managers can change the product catalogue."),
    "role_cannot_change": N_("Your role cannot change records."),
}


# Outcomes of a run (ImportRun.detail_code).
RUN_MESSAGES: dict[str, str] = {
    "nothing_imported": N_("Nothing was imported: %(n)d rows have errors. Fix them and import "
                           "the file again, or import the valid rows only."),
    "rows_not_imported": N_("%(n)d rows had errors and were not imported."),
    "dry_run": N_("Dry run: nothing was written."),
    "worker_stopped": N_("The background worker stopped during the import (it was killed or "
                         "restarted); nothing was written. Start the import again."),
    "undo_worker_stopped": N_("The background worker stopped during the undo; nothing was "
                              "changed and the import stands. Undo it again."),
}


def _format(template: str, params: dict | None) -> str:
    text = gettext(template)
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        # A catalogue whose translation lost a placeholder: the English one still works.
        return template % params if params else template


def render_run(code: str, params: dict | None = None, fallback: str = "") -> str:
    template = RUN_MESSAGES.get(code or "")
    return fallback if template is None else _format(template, params)


def render(code: str, params: dict | None = None, fallback: str = "") -> str:
    """The message of `code` in the active language; `fallback` for an unknown code."""
    template = MESSAGES.get(code or "")
    return fallback if template is None else _format(template, params)


class RowProblem(ValueError):
    """What is wrong with a cell or a row, as a code and parameters. `str()` renders it
    in the active language, so it can stand wherever a message string did."""

    def __init__(self, code: str, **params):
        if code not in MESSAGES:
            raise KeyError(code)
        self.code = code
        self.params = params
        super().__init__(code)

    def __str__(self) -> str:
        return render(self.code, self.params)

    def __eq__(self, other) -> bool:
        if isinstance(other, RowProblem):
            return (self.code, self.params) == (other.code, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.code)


def coded(reason) -> tuple[str, dict, str]:
    """(code, params, text) of a reason that is a RowProblem or plain text."""
    if isinstance(reason, RowProblem):
        params = {k: v if isinstance(v, int | float | str) else str(v)
                  for k, v in reason.params.items()}
        return reason.code, params, str(reason)
    return "", {}, str(reason)
