"""`chatbench load`: swarm a chat server with Locust and measure fan-out latency and delivery.

The measurement core imports neither locust nor gevent: `plan` (rooms, kinds, schedules),
`ledger` (expected recipients, lost/duplicated/out-of-order/leaked/replayed, cleanup checks),
`recorder` (the per-frame path, per-second buckets), `aggregate` (exact merge, results.json,
HDR log), `frames` (the server-frame parser, bounded, and how a connection ended), `hist`,
`slo` (gates) and `verdict` (when a run is broken); `child` runs the Locust child process
(its own process group, signals forwarded). Locust and gevent live in `wsclient` (the
WebSocket client) and `reactor` (the one epoll set it is read through),
`users` (the Locust user classes), `runtime` (the per-process timeline), `collect` (master side
and output), `clock`, `console`, `options` and `webui`, which only the Locust processes import.
"""
