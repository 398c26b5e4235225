"""The app API: Server, decorators, Context and dispatch."""
