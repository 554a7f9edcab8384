"""Hostile-input suite: every bad request gets the API guide's error (§3) and changes nothing."""
