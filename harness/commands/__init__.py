"""Subcommands of `chatbench`, one module each (see harness.cli.COMMANDS)."""
