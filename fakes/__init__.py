"""Stand-ins for outside services, for the tests, the benchmarks and the demo; never deployed."""
