"""Tools for the test suite and the benchmarks (not part of the installed ledger)."""
