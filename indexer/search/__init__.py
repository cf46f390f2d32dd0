"""Answering a query: text and picture searches, caption and tag matches, and their fusion."""
