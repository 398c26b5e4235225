"""Fleet state: what outlives one HTTP request."""
