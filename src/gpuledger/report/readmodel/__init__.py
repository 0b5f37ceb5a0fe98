"""The app's read model: cached, per-viewer reads of engine results."""
