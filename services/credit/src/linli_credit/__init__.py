"""Linli credit: the integrity ledger, scores and grades."""
