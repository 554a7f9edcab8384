"""Hostile-input suite: every bad request gets the contract's error (§3) and changes nothing."""
