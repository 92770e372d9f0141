"""Vector indexing: the Milvus track collection (schema, load, alias swap, filtered search)."""
