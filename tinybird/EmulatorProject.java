import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The emulator serving a Tinybird project folder (tinybird/ by default): its .datasource files as tables (engine,
 * keys, jsonpaths for the Events API), its materializations as ClickHouse materialized views (so every insert into a
 * source table, by the Events API or the Data Sources API alike, feeds the target, as Tinybird does on every append),
 * its API Endpoints rendered by TinybirdProject/PipeTemplate (parameters as quoted literals), its TOKENs as tokens
 * with the scopes Tinybird gives them, and optionally its fixtures/.
 *
 * <p>Why here: the emulator's own mechanisms (EmulatorTables, EmulatorQueries) stay as they are; this file only maps
 * the project onto them. Invariant: every data source of the project is a real table of the emulator's database,
 * registered as a data source once its table exists; the built-in weather rows, when asked for, are copied into the
 * project's weather_data table (then read-only, as the built-in data set has always been).
 */
final class EmulatorProject {
    final TinybirdProject project;
    /** A datafile TOKEN's name -> the value the emulator gave it. */
    final Map<String, String> tokens = new LinkedHashMap<>();

    private EmulatorProject(TinybirdProject project) {
        this.project = project;
    }

    /** The project beside the emulator's script (the ./jbang launcher says where), else ./tinybird; empty when neither has datafiles. */
    static Optional<Path> defaultFolder() {
        String script = System.getenv("PY_UTILITIES_SCRIPT");
        if (script != null && !script.isBlank()) {
            Path dir = Path.of(script).toAbsolutePath().getParent();
            if (dir != null && isProject(dir)) return Optional.of(dir);
        }
        Path here = Path.of("tinybird").toAbsolutePath();
        return isProject(here) ? Optional.of(here) : Optional.empty();
    }

    private static boolean isProject(Path dir) {
        return Files.isDirectory(dir.resolve("datasources")) || Files.isDirectory(dir.resolve("endpoints"));
    }

    /**
     * Reads the folder and makes its resources in the emulator: tables, materialized views, tokens; the built-in
     * weather rows into weather_data when weatherSeed is non-null; fixtures/ when asked. A bad datafile is an
     * IllegalArgumentException with TinybirdProject's one-line message.
     */
    static EmulatorProject load(TinybirdEmulator emu, Path folder, Long weatherSeed, boolean fixtures) {
        TinybirdProject p;
        try {
            p = TinybirdProject.load(folder);
        } catch (TinybirdProject.DatafileException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        EmulatorProject ep = new EmulatorProject(p);
        EmulatorTables tables = emu.tables;
        for (TinybirdProject.Datasource d : p.datasources().values()) {
            boolean builtinWeather = weatherSeed != null && d.name().equals("weather_data");
            List<EmulatorSchema.Col> cols = d.columns().stream().map(c -> new EmulatorSchema.Col(c.name(), c.type(), c.jsonPath())).toList();
            EmulatorTables.DataSource ds = new EmulatorTables.DataSource(d.name(), TinybirdEmulator.newId(), cols, d.hasJsonPaths(),
                    builtinWeather, d.sortingKey());
            if (!tables.dataSources.containsKey(d.name())) { // an on-disk engine (--data) keeps its tables
                String create = withSettings(p.createTableSql(d.name()), d) + " COMMENT " + EmulatorTables.quote(meta(ds));
                tables.write(c -> {
                    c.execute(create);
                    return null;
                });
            }
            tables.dataSources.put(d.name(), ds); // visible once its table exists
        }
        for (TinybirdProject.Pipe m : p.materializations()) {
            String view = p.materializedViewSql(m.name());
            tables.write(c -> {
                c.execute(view);
                return null;
            });
        }
        if (weatherSeed != null && p.datasources().containsKey("weather_data")) loadWeather(tables, weatherSeed);
        if (fixtures) ep.loadFixtures(tables);
        Map<String, Set<String>> scopes = new LinkedHashMap<>();
        for (TinybirdProject.Datasource d : p.datasources().values()) {
            for (TinybirdProject.Token t : d.tokens()) {
                scopes.computeIfAbsent(t.name(), x -> new LinkedHashSet<>()).add("DATASOURCES:" + t.scope() + ":" + d.name());
            }
        }
        for (TinybirdProject.Pipe pipe : p.pipes().values()) {
            for (TinybirdProject.Token t : pipe.tokens()) scopes.computeIfAbsent(t.name(), x -> new LinkedHashSet<>()).add("PIPES:READ:" + pipe.name());
        }
        scopes.forEach((name, s) -> ep.tokens.put(name, emu.addToken(name, s.toArray(String[]::new))));
        return ep;
    }

    /** Arrival order (EmulatorTables.rows) needs each row's block number and offset; the datafile's own SETTINGS kept. */
    private static String withSettings(String create, TinybirdProject.Datasource d) {
        if (d.engine().equals("Null")) return create;
        String ours = "enable_block_number_column = 1, enable_block_offset_column = 1";
        return create + (d.engineOptions().containsKey("settings") ? ", " : "\nSETTINGS ") + ours;
    }

    /** What EmulatorTables keeps in a table's COMMENT, so --data restores the data source. */
    private static String meta(EmulatorTables.DataSource ds) {
        ObjectNode meta = JsonNodeFactory.instance.objectNode();
        meta.put("schema", ds.schema());
        meta.put("id", ds.id);
        meta.put("json", ds.json);
        if (ds.sortingKey != null) meta.put("sorting_key", ds.sortingKey);
        return meta.toString();
    }

    /** The built-in rows (lib/WeatherReports, as seed-data writes them) copied from the engine's shared table. */
    private static void loadWeather(EmulatorTables tables, long seed) {
        EmulatorWeather.load(tables.engine, seed);
        tables.write(c -> {
            long have = Long.parseLong(c.text("SELECT count() FROM weather_data", "TSV").strip());
            if (have != EmulatorWeather.ROWS) {
                c.execute("TRUNCATE TABLE weather_data SYNC");
                c.execute("INSERT INTO weather_data (" + EmulatorWeather.COLUMNS + ") " + EmulatorWeather.view(seed));
            }
            return null;
        });
    }

    /** fixtures/<data source>.ndjson through the Events API's path (jsonpaths, materializations); .csv as CSV. */
    private void loadFixtures(EmulatorTables tables) {
        for (Map.Entry<String, Path> f : project.fixtures().entrySet()) {
            EmulatorTables.DataSource ds = tables.dataSources.get(f.getKey());
            if (ds == null) continue;
            byte[] body;
            try {
                body = Files.readAllBytes(f.getValue());
            } catch (IOException e) {
                throw new IllegalArgumentException(f.getValue() + ": cannot read: " + e.getMessage(), e);
            }
            if (f.getValue().toString().endsWith(".csv")) {
                byte[] head = ("INSERT INTO " + tables.table(ds.name) + " FORMAT CSV\n").getBytes(StandardCharsets.UTF_8);
                byte[] sql = new byte[head.length + body.length];
                System.arraycopy(head, 0, sql, 0, head.length);
                System.arraycopy(body, 0, sql, head.length, body.length);
                tables.write(c -> {
                    c.query(sql, null).close();
                    return null;
                });
                continue;
            }
            int n = 0;
            int[] pairs = new int[16];
            for (int i = 0, start = 0; i <= body.length; i++) {
                if (i == body.length || body[i] == '\n') {
                    int end = i > start && body[i - 1] == '\r' ? i - 1 : i;
                    if (end > start && !new String(body, start, end - start, StandardCharsets.UTF_8).isBlank()) {
                        if (2 * n + 2 > pairs.length) pairs = java.util.Arrays.copyOf(pairs, pairs.length * 2);
                        pairs[2 * n] = start;
                        pairs[2 * n + 1] = end - start;
                        n++;
                    }
                    start = i + 1;
                }
            }
            String[] errors = tables.insertLines(ds, body, pairs, n);
            if (errors != null) {
                for (int i = 0; i < errors.length; i++) {
                    if (errors[i] != null) throw new IllegalArgumentException(f.getValue() + ": row " + (i + 1) + ": " + errors[i].lines().findFirst().orElse(""));
                }
            }
        }
    }

    /** Whether the project has an API Endpoint of that name. */
    boolean serves(String pipe) {
        TinybirdProject.Pipe p = project.pipes().get(pipe);
        return p != null && p.isEndpoint();
    }

    /** The endpoint's SELECT for a request; a parameter error is the emulator's 400 (its own body, Tinybird's text). */
    String sql(String pipe, Map<String, List<String>> params) {
        try {
            return project.sql(pipe, params);
        } catch (PipeTemplate.TemplateError e) {
            throw new EmulatorHttp.BadRequest(e.status(), e.getMessage());
        }
    }
}
