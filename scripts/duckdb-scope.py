"""The network question of `vigie bench-scope compare`, asked of DuckDB over the ledger's
entries exported to Parquet: the distinct persons whose data was released to sessions signed in
from one network in a window. Prints "<seconds> <persons>"; the time includes DuckDB's start
on the files (a cold query, like Vigie's fresh process). The window is compared as timestamps so
that DuckDB can skip row groups by their statistics."""
import sys
import time

import duckdb

parquet, network, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
con = duckdb.connect()
n = con.execute(
    f"""SELECT COUNT(DISTINCT person) FROM read_parquet('{parquet}/*.parquet')
        WHERE network = ? AND decision = 'allow' AND returned <> 0
          AND "at" >= to_timestamp(? / 1000.0) AND "at" < to_timestamp(? / 1000.0)""",
    [network, start, end],
).fetchone()[0]
print(f"{time.perf_counter() - t:.3f} {n} persons")
