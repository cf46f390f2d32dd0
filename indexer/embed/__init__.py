"""The model inside this process: one thread that runs it (queries first), the query batcher,
the decode pool and the guards for untrusted picture bytes."""
