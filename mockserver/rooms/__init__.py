"""v2 sessions beyond REST: a LiveKit-compatible room per session, the SDK's chat socket, the realtime endpoint."""
