"""Fraud alerts to a webhook (PAYLAKE_ALERT_WEBHOOK), at least once, with an idempotency key per alert.

``outbox`` is the delivery state kept on the alert documents, ``wire`` the JSON payload, keys, HTTP POST and
backoff, ``deliver`` the deliverer (`paylake alerts deliver [--follow]`), ``receiver`` the example receiver
(`paylake alerts receiver`), ``commands`` the CLI.
"""
