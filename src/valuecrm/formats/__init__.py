"""Number formats that differ from Django's locale defaults (FORMAT_MODULE_PATH).

Only the settings named in a locale's module here override Django's; everything
else (dates, input formats) still comes from django/conf/locale.
"""
