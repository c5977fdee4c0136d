"""Inter-service contracts: one module per provider service."""
