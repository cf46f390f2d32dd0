"""From hits to what a person sees: relevance, continuations (More, inline offsets), the
rendered replies and the progress message."""
