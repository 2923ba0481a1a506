"""Where an entry point's command executes (step 6 of a run)."""
