"""Agent-specific knowledge: how to launch each kind of agent and read its hook events."""
