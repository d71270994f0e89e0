"""Helpers shared by srddgan's modules: image filtering, weight files, training states."""
