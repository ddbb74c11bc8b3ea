"""Account health's derived figures, computed in PostgreSQL a batch of customers per statement:
the year's metrics and the review's recommendation (year), the flags they raise (flags), the
month-by-month figures (months), and the runner that puts them together (refresh)."""
