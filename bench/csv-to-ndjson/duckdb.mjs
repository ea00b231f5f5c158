// Peer: DuckDB, COPY (SELECT * FROM read_csv(f)) TO o (FORMAT json). Usage: node duckdb.mjs IN.csv OUT.ndjson
import { DuckDBInstance } from '@duckdb/node-api';

const [, , input, output] = process.argv;
const quote = (s) => "'" + s.replaceAll("'", "''") + "'";
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(`COPY (SELECT * FROM read_csv(${quote(input)})) TO ${quote(output)} (FORMAT json)`);
