"""The outbound side of the client API: the delivery process that POSTs the outbox's webhook events."""
