///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 21+
//SOURCES ../lib/Cli.java
//SOURCES ../lib/Config.java
//SOURCES ../lib/Pg.java
//SOURCES ../lib/Json.java
//SOURCES ../lib/Tinybird.java
//SOURCES ../lib/TinybirdApiException.java
//SOURCES ../lib/TinybirdClient.java
//SOURCES ../lib/TinybirdNet.java
//SOURCES ../lib/TinybirdOptions.java
//SOURCES ../lib/TinybirdRowScanner.java
//SOURCES ../lib/TinybirdRows.java
//SOURCES ../lib/TinybirdWriter.java
//SOURCES ../lib/TinybirdWriterSettings.java
//SOURCES ../lib/WeatherReports.java
//DESCRIPTION Loads the same deterministic weather rows into PostgreSQL (weather_reports) and a Tinybird data source,
//DESCRIPTION so that stress-case.java asks both the same questions over identical data.
//DESCRIPTION   seed-data.java --target postgres --replace
//MAIN SeedData

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "seed-data", mixinStandardHelpOptions = true, versionProvider = Cli.Version.class, usageHelpWidth = 130,
        description = {
                "Generates weather reports every 4 hours for --cities cities over --days days from 2023-05-01 (deterministic,",
                "the local emulator's weather_data exactly) and loads them into PostgreSQL (table weather_reports, primary key",
                "(timestamp, site_name), index (site_name, timestamp) for stress-case's query) and/or a Tinybird data",
                "source through the Events API, so both sides serve identical data.", ""},
        footer = {"",
                "Examples:",
                "  ./jbang seed-data --target postgres --replace                    # the emulator's 381,060 rows",
                "  ./jbang seed-data --target both --days 120 --cities 20 --city \"Coeur d'Alene\" --replace",
                "  ./jbang seed-data --target postgres --url postgresql://app@db:5432/demo --days 30",
                "  ./jbang seed-data --target tinybird --host http://localhost:7181 --datasource weather_copy  # weather_data is read-only",
                "",
                "Environment: DATABASE_URL / PG* / POSTGRES_DATABASE_* (PostgreSQL); TINYBIRD_HOST, TINYBIRD_TOKEN",
                "(a token that can append to the data source)."})
class SeedData implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Cli.Common common;
    @Mixin Pg.Options pg;
    @Mixin TinybirdOptions tb;

    /** Where to load; pg and tb are short for postgres and tinybird. */
    enum Load {
        postgres, tinybird, both, pg, tb;

        List<String> kinds() {
            return switch (this) {
                case both -> List.of("postgres", "tinybird");
                case postgres, pg -> List.of("postgres");
                case tinybird, tb -> List.of("tinybird");
            };
        }
    }

    @Option(names = "--target", paramLabel = "WHICH", defaultValue = "both", description = "postgres, tinybird or both. Default: ${DEFAULT-VALUE}.")
    Load target;

    @Option(names = "--days", paramLabel = "N", defaultValue = "365", converter = CliTypes.PositiveInt.class,
            description = "Days of reports from 2023-05-01 (the emulator's data covers 365). Default: ${DEFAULT-VALUE}.")
    int days;

    @Option(names = "--cities", paramLabel = "N", defaultValue = "174", converter = CliTypes.NonNegativeInt.class,
            description = "The first N cities (alphabetical) of the demo's 174. Default: ${DEFAULT-VALUE}.")
    int cities;

    @Option(names = "--city", paramLabel = "NAME", converter = CliTypes.Name.class, description = "An extra city (repeatable), e.g. \"Coeur d'Alene\".")
    List<String> extraCities = new ArrayList<>();

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1",
            description = "Seed of the data (the emulator's default is 1). Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--table", paramLabel = "NAME", defaultValue = "weather_reports", description = "PostgreSQL table. Default: ${DEFAULT-VALUE}.")
    String table;

    @Option(names = "--datasource", paramLabel = "NAME", defaultValue = "weather_data",
            description = "Tinybird data source the reports and api_cities pipes read. Default: ${DEFAULT-VALUE}.")
    String datasource;

    @Option(names = "--replace", description = "Empty the PostgreSQL table first (otherwise a table that has rows is an error). For Tinybird, truncate the data source yourself.")
    boolean replace;

    public static void main(String[] args) {
        System.exit(Cli.commandLine(new SeedData()).execute(args));
    }

    @Override
    public Integer call() {
        return Cli.run(spec, common, this::execute);
    }

    int execute() throws Exception {
        List<String> kinds = target.kinds();
        WeatherGen gen = new WeatherGen(seed, cities, extraCities, days);
        if (gen.total() == 0) throw Cli.usage("nothing to load: --cities 0 and no --city");
        Config cfg = common.config();
        for (String k : kinds) {
            long t0 = System.nanoTime();
            long n = k.equals("postgres") ? loadPostgres(gen, pg.resolve(cfg)) : loadTinybird(gen, cfg);
            spec.commandLine().getErr().println(Cli.summary(k, n, "rows", -1, Duration.ofNanos(System.nanoTime() - t0)));
        }
        return 0;
    }

    long loadPostgres(WeatherGen gen, Pg.Target t) throws SQLException, IOException {
        String tbl = Pg.ident(table);
        try (Connection c = Pg.connect(t); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS " + tbl + " (timestamp timestamp NOT NULL, site_name text NOT NULL, clouds smallint, "
                    + "description text, humidity smallint, precip real, pressure smallint, temp_f real, wind_dir smallint, "
                    + "wind_speed real, PRIMARY KEY (timestamp, site_name))");
            st.execute("CREATE INDEX IF NOT EXISTS " + Pg.ident(table + "_site_time") + " ON " + tbl + " (site_name, timestamp)");
            // pg-query's and pg-pool's default query matches the city case-insensitively, lower(site_name) = lower(:city)
            st.execute("CREATE INDEX IF NOT EXISTS " + Pg.ident(table + "_lower_site") + " ON " + tbl + " (lower(site_name))");
            if (replace) {
                st.execute("TRUNCATE " + tbl);
            } else {
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM (SELECT 1 FROM " + tbl + " LIMIT 1) x")) {
                    rs.next();
                    if (rs.getLong(1) > 0) throw new Cli.Failure(table + " already has rows: use --replace to reload it");
                }
            }
            c.setAutoCommit(false);
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            long[] count = {0};
            StringBuilder sb = new StringBuilder(1 << 20);
            try (Cli.Progress p = Cli.Progress.items("postgres", gen.total(), "rows", common.quiet)) {
                gen.generate(r -> {
                    r.csv(sb);
                    count[0]++;
                    if (sb.length() > 1 << 20) {
                        copyChunk(copy, tbl, sb);
                        p.set(count[0]);
                    }
                });
                copyChunk(copy, tbl, sb);
                p.set(count[0]);
            } catch (RuntimeException e) {
                if (e.getCause() instanceof SQLException s) throw s;
                throw e;
            }
            c.commit();
            c.setAutoCommit(true);
            st.execute("ANALYZE " + tbl);
            return count[0];
        }
    }

    private static void copyChunk(CopyManager copy, String tbl, StringBuilder sb) {
        if (sb.isEmpty()) return;
        try (Reader r = new StringReader(sb.toString())) {
            copy.copyIn("COPY " + tbl + " (timestamp, site_name, clouds, description, humidity, precip, pressure, temp_f, wind_dir, wind_speed)"
                    + " FROM STDIN (FORMAT csv)", r);
        } catch (SQLException e) {
            throw new RuntimeException(e);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        sb.setLength(0);
    }

    long loadTinybird(WeatherGen gen, Config cfg) {
        try (TinybirdClient client = tb.client(cfg, "TINYBIRD_TOKEN", "TB_TOKEN", "TINYBIRD_ADMIN_TOKEN")) {
            long[] count = {0};
            try (Cli.Progress p = Cli.Progress.items("tinybird", gen.total(), "rows", common.quiet);
                 TinybirdWriter w = client.writer(datasource, new TinybirdWriterSettings().maxRows(20_000))) {
                StringBuilder sb = new StringBuilder(256);
                gen.generate(r -> {
                    sb.setLength(0);
                    r.json(sb);
                    w.append(sb.toString());
                    p.set(++count[0]);
                });
                w.flush();
                w.throwIfFailed();
                TinybirdWriter.Stats s = w.stats();
                if (s.quarantined() > 0) {
                    throw new Cli.Failure("tinybird: " + s.quarantined() + " rows went to " + datasource
                            + "_quarantine: the data source's schema does not fit the weather rows");
                }
            }
            return count[0];
        }
    }

    // ------------------------------------------------------------------ the generator

    /**
     * The weather demo data: the same pure function of (seed, time step, city) as the local Tinybird emulator's built-in
     * weather_data (174 US cities, one report every 4 hours from 2023-05-01 00:00:00), so PostgreSQL seeded with the
     * defaults holds exactly the rows the emulator's reports pipe serves; against a real workspace, --target tinybird
     * loads the same rows into a data source. --cities takes the first N cities, --city adds more (an apostrophe works).
     */
    static final class WeatherGen {
        static final int STEP_HOURS = WeatherReports.STEP_HOURS;
        static final String[] CITIES = WeatherReports.CITIES;
        static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

        final long seed;
        final List<String> names = new ArrayList<>();
        final List<Integer> index = new ArrayList<>();
        final List<double[]> climate = new ArrayList<>();
        final int steps;

        WeatherGen(long seed, int cities, List<String> extra, int days) {
            this.seed = seed;
            for (int i = 0; i < Math.min(cities, CITIES.length); i++) add(CITIES[i], i);
            for (String e : extra) {
                String name = e.strip();
                if (names.stream().anyMatch(n -> n.equalsIgnoreCase(name))) continue;
                int known = java.util.Arrays.asList(CITIES).indexOf(name);
                add(name, known >= 0 ? known : CITIES.length + names.size());
            }
            this.steps = days * 24 / STEP_HOURS;
        }

        private void add(String name, int idx) {
            names.add(name);
            index.add(idx);
            climate.add(WeatherReports.climate(seed, name));
        }

        long total() {
            return (long) steps * names.size();
        }

        /** Rows in (timestamp, site_name) order. */
        void generate(Consumer<Row> sink) {
            Integer[] order = new Integer[names.size()];
            for (int i = 0; i < order.length; i++) order[i] = i;
            java.util.Arrays.sort(order, (x, y) -> names.get(x).compareTo(names.get(y)));
            for (int s = 0; s < steps; s++) {
                for (int k : order) sink.accept(row(s, k));
            }
        }

        Row row(int s, int k) {
            WeatherReports.Report w = WeatherReports.report(seed, s, index.get(k), climate.get(k));
            return new Row(w.timestamp(), names.get(k), w.clouds(), w.description(), w.humidity(), w.precip(), w.pressure(),
                    w.tempF(), w.windDir(), w.windSpeed());
        }
    }

    record Row(LocalDateTime timestamp, String siteName, int clouds, String description, int humidity, float precip, int pressure,
               float tempF, int windDir, float windSpeed) {
        void csv(StringBuilder sb) {
            sb.append(timestamp.format(WeatherGen.TS)).append(",\"").append(siteName.replace("\"", "\"\"")).append("\",")
                    .append(clouds).append(',').append(description).append(',').append(humidity).append(',').append(precip).append(',')
                    .append(pressure).append(',').append(tempF).append(',').append(windDir).append(',').append(windSpeed).append('\n');
        }

        void json(StringBuilder sb) {
            sb.append("{\"clouds\":").append(clouds).append(",\"description\":\"").append(description).append("\",\"humidity\":")
                    .append(humidity).append(",\"precip\":").append(precip).append(",\"pressure\":").append(pressure)
                    .append(",\"site_name\":\"").append(siteName.replace("\\", "\\\\").replace("\"", "\\\"")).append("\",\"temp_f\":")
                    .append(tempF).append(",\"timestamp\":\"").append(timestamp.format(WeatherGen.TS)).append("\",\"wind_dir\":")
                    .append(windDir).append(",\"wind_speed\":").append(windSpeed).append('}');
        }

    }
}
