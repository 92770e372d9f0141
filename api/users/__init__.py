"""Accounts: sign-up, login/refresh/logout with JWTs, profiles."""
