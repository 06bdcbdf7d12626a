"""The emulator's REST surface: one request pipeline (``app``) over a table of routes whose
handlers parse, call the state, and serialize. Imports ``state`` (and the shared ``errors``),
never ``node``."""
