from linli_registry.adapters.tables import metadata
from linli_shared.migrations import run_env

run_env(metadata)
