//! The blocking client: explicit receive or a background loop thread.
