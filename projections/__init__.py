"""Read models derived from the ledger. Commands never write here; only projections do."""
