"""Resilience suite: bad input, security, faults and load (see tests/resilience/record.py)."""
