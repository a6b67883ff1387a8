"""The chaos harness: the flows killed with SIGKILL mid-stream, and what must still hold."""
