"""Stage 1, data: the retrieval corpus (RetrievalData), loaders for real data sets, the embedded default, preparation."""
