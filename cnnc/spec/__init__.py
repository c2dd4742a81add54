"""The spec language: load (YAML with marks), expand (blocks, repeat, sugar), errors."""
