"""Staff accounts, roles, passwords and signed tokens."""
