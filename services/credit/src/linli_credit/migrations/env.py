from linli_credit.adapters.tables import metadata
from linli_shared.migrations import run_env

run_env(metadata)
