"""The write path in the order it runs: acknowledged → queued → downloaded → embedded →
committed (the worker and the hand-over loops), and re-embedding a collection."""
