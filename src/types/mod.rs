//! Redis-style operations on top of the key-value engine, one module per family of commands.
