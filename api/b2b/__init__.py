"""The B2B recommendation API (`/v1`): organisations, API keys, plans, rate limits, quotas and usage."""
