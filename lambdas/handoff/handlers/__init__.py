"""One module per state of the workflow; each parses its input, calls one function, returns."""
