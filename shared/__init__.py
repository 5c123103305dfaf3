"""vote-extractor's shared package: every Cloud Function imports from here."""
