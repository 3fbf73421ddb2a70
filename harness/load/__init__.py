"""`chatbench load`: swarm a chat server with Locust and measure fan-out latency and delivery.

The measurement core imports neither locust nor gevent: `plan` (rooms, kinds, schedules),
`ledger` (expected recipients, lost/duplicated/out-of-order/leaked, cleanup checks), `recorder`
(the per-frame path, per-second buckets), `aggregate` (exact merge, results.json, HDR log) and
`slo` (gates). Locust and gevent live in `wsclient`, `runtime` and `users` only, which only the
load path (the Locust processes) imports. Locust user classes: `harness.load.users`.
"""
