"""API-key authentication cost: authenticated ``GET /api/v1/me`` against a plain Django view."""
