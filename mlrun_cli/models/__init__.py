"""Models after a run: registering them (`register`), finding their files by URI (`locate`),
building their environment (`env`), and serving or scoring them (`serve`, with the scoring
server `scoring_server`, a script the model's own interpreter runs)."""
