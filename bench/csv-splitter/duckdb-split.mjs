// Peer for bench/csv-splitter: DuckDB's COPY ... TO a folder with FILE_SIZE_BYTES (its own CSV reader and writer).
// usage: node duckdb-split.mjs INPUT.csv OUT_DIR MAX_BYTES
import { DuckDBInstance } from '@duckdb/node-api';

const [input, outDir, maxBytes] = process.argv.slice(2);
const q = (s) => "'" + s.replaceAll("'", "''") + "'";
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(`COPY (SELECT * FROM read_csv(${q(input)}, header = true, all_varchar = true))
               TO ${q(outDir)} (FORMAT csv, HEADER true, FILE_SIZE_BYTES ${Number(maxBytes)})`);
