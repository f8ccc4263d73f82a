# Django's zh_Hans has no thousands separator (and 万-style grouping of 4), so money
# read "¥47282.00" in 中文 but "¥47,282.00" in English. Chinese business software
# groups by thousands with a comma, like English.
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
