"""`chatbench load`: swarm a chat server with Locust and measure fan-out latency and delivery.

The measurement core imports neither locust nor gevent: `plan` (rooms, kinds, schedules),
`ledger` (expected recipients, lost/duplicated/out-of-order/leaked, cleanup checks), `recorder`
(the per-frame path, per-second buckets), `aggregate` (exact merge, results.json, HDR log),
`hist` and `slo` (gates). Locust and gevent live in `wsclient` (the WebSocket client),
`users` (the Locust user classes), `runtime` (the per-process timeline), `collect` (master side
and output), `clock`, `options` and `webui`, which only the Locust processes import.
"""
