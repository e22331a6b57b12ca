"""The write side of the Flero security ledger: events, aggregates and the event store."""
