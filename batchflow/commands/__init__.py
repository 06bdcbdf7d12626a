"""The command implementations: plain functions returning an exit code, imported lazily."""
