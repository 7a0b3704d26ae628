"""Background jobs (RQ), the worker command, and progress emission."""
