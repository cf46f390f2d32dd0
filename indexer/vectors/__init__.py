"""Copies of the stored vectors that answer k-NN: FAISS on one machine, Milvus past it.

Outside this package only :mod:`indexer.vectors.backend` is imported: its ``open_backend`` is
the one factory that picks the implementation."""
