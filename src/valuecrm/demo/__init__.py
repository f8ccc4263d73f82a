"""Deterministic demo business: customers, products and buy-till-you-die orders."""
