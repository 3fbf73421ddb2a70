"""`chatbench demo`: reference server, scripted conversation, check, load run and report."""
