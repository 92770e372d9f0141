"""Locust load tests of the MUSEED HTTP API: user journeys, a staged load shape, profiles and thresholds.

HTTP only: nothing here imports a project package (tests/test_architecture.py enforces it), so the suite runs
against any deployment. Run it with `museed loadtest` or `locust -f loadtests/locustfile.py --loadtest-profile smoke`.
"""
