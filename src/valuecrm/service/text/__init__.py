"""Feedback text analysis: language, tokens/keywords, sentiment (the project's own model)."""
