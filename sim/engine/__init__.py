"""Engine: ensembles over executors, result stores and writers, run folders."""
