"""Server voices: a server's own model, fine-tuned from a text its admins upload."""
