"""Customer pages: list, record (360 page and forms) and the follow-up inbox."""
