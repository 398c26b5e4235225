"""Sans-IO protocol core: values in, decisions out. No I/O, no asyncio."""
