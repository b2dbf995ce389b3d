"""Audio encoders and the log-mel front end."""
