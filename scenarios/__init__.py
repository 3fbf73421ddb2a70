"""chatbench scenarios: the conformance cases (`scenarios.conformance`) and the load users."""
