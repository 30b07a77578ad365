"""Events on the wire: the CloudEvents envelope, the outbox, the inbox and the transports."""
