"""Network architectures. Presets (``ganforge.presets``) pick one and its settings."""
