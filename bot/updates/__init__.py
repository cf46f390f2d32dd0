"""Receiving updates (polling or webhook) and confirming each only once what it must store is
stored."""
