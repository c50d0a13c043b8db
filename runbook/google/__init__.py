"""Google Cloud access: the client factory, the call policy (deadlines, retries, error mapping), Compute, shared reads.

Knows nothing of checks: the core asks it for answers and decides what they mean.
"""
