"""`chatbench demo`: the reference server, a scripted conversation, a check, a load run, a report."""
