"""Linli's common mechanisms. Holds no service's domain: only envelopes, contracts and plumbing."""
