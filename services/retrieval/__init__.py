"""The retrieval service: ingestion, embeddings, the vector index and ranking."""
