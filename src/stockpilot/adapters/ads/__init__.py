"""Ad platforms: Meta Marketing API ad sets and Google Ads ad groups (status, recent spend, who changed them)."""
