"""Use cases: validate the input, load aggregates, apply their rules, save. The only writers."""
