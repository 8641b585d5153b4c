"""modelplane's side-by-side benchmark against KServe and MLServer (see bench/NOTES.md)."""
