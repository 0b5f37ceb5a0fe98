"""Alert delivery: e-mail and webhook messages, each sent exactly once."""
