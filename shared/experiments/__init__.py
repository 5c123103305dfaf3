"""Experiments: a dataset version x variants x repetitions, run in shards, analysed and reported."""
