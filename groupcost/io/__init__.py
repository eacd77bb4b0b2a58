"""Formats: one adapter module per format, each owning its library, imported lazily."""
