"""The `linli` command: runs, migrates and inspects the four Linli services."""
