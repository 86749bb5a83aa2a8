"""One reader per family of formats. Each yields `Header` and `Item` objects and never raises on bad content:
what it cannot read becomes an item with an error, to be quarantined."""
