"""Vector indexing: FAISS IVF-PQ tuning, the Milvus track collection (schema, load, alias swap, filtered search)."""
