import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

/**
 * The built-in weather demo data: one ClickHouse table per seed, copied into each emulator's weather_data.
 *
 * <p>Why: stress-case compares PostgreSQL and Tinybird on the same rows, so the rows come from lib/WeatherReports.java,
 * as seed-data's do (174 cities, a report every 4 hours from 2023-05-01 for 365 days: 381,060 rows). They are loaded
 * once per engine into {@code tinybird_weather.weather_data_s<seed>}, ordered by (site_name, timestamp) in granules of
 * 1,024 rows (a city's week is then a few granules, not 8,192-row ones: the endpoint reads less); an emulator copies
 * them into its project's weather_data table (EmulatorProject), or without a project sees them through a read-only
 * VIEW named weather_data. Invariant: the table holds exactly
 * {@link #ROWS} rows, identical to WeatherReports' (a partial load is dropped and redone).
 */
final class EmulatorWeather {
    private EmulatorWeather() {}

    static final String DATABASE = "tinybird_weather";
    static final int STEPS = 365 * 24 / WeatherReports.STEP_HOURS;
    static final long ROWS = (long) STEPS * WeatherReports.CITIES.length;
    static final String SCHEMA = "`clouds` Int8 `json:$.clouds`, `description` String `json:$.description`, "
            + "`humidity` Int8 `json:$.humidity`, `precip` Float32 `json:$.precip`, `pressure` Int8 `json:$.pressure`, "
            + "`site_name` String `json:$.site_name`, `temp_f` Float32 `json:$.temp_f`, `timestamp` DateTime `json:$.timestamp`, "
            + "`wind_dir` Int8 `json:$.wind_dir`, `wind_speed` Float32 `json:$.wind_speed`";
    static final String COLUMNS = "clouds, description, humidity, precip, pressure, site_name, temp_f, timestamp, wind_dir, wind_speed";

    private static final Set<Long> loaded = new HashSet<>();

    static String table(long seed) {
        return DATABASE + ".weather_data_s" + Long.toUnsignedString(seed);
    }

    /** Loads the seed's rows into the engine unless they are there already (an on-disk engine keeps them). */
    static synchronized void load(Chdb engine, long seed) {
        if (loaded.contains(seed)) return;
        try (Chdb.Connection c = engine.connect()) {
            c.execute("SET session_timezone = 'UTC'");
            c.execute("CREATE DATABASE IF NOT EXISTS " + DATABASE);
            String t = table(seed);
            boolean there = c.text("EXISTS TABLE " + t, "TSV").strip().equals("1")
                    && Long.parseLong(c.text("SELECT count() FROM " + t, "TSV").strip()) == ROWS;
            if (!there) {
                c.execute("DROP TABLE IF EXISTS " + t + " SYNC");
                c.execute("CREATE TABLE " + t + " (clouds Int8, description String, humidity Int8, precip Float32, pressure Int8,"
                        + " site_name String, temp_f Float32, timestamp DateTime, wind_dir Int8, wind_speed Float32)"
                        + " ENGINE = MergeTree ORDER BY (site_name, timestamp) SETTINGS index_granularity = 1024");
                insert(c, t, seed);
            }
            // the city names, so a pipe can find a city's exact name in 174 rows and then read it by the sorting key
            c.execute("CREATE TABLE IF NOT EXISTS " + DATABASE + ".cities (site_name String) ENGINE = MergeTree ORDER BY site_name");
            if (c.text("SELECT count() FROM " + DATABASE + ".cities", "TSV").strip().equals("0")) {
                c.execute("INSERT INTO " + DATABASE + ".cities SELECT DISTINCT site_name FROM " + t);
            }
        }
        loaded.add(seed);
    }

    /** TSV in slices of 40,000 rows: the text is what seed-data writes to PostgreSQL, value for value. */
    private static void insert(Chdb.Connection c, String table, long seed) {
        String[] cities = WeatherReports.CITIES;
        double[][] climate = new double[cities.length][];
        for (int i = 0; i < cities.length; i++) climate[i] = WeatherReports.climate(seed, cities[i]);
        StringBuilder sb = new StringBuilder(8 << 20);
        String head = "INSERT INTO " + table + " FORMAT TabSeparated\n";
        int inSlice = 0;
        for (int s = 0; s < STEPS; s++) {
            for (int ci = 0; ci < cities.length; ci++) {
                if (inSlice == 0) sb.setLength(0);
                if (inSlice == 0) sb.append(head);
                WeatherReports.Report w = WeatherReports.report(seed, s, ci, climate[ci]);
                sb.append(w.clouds()).append('\t').append(w.description()).append('\t').append(w.humidity()).append('\t')
                        .append(w.precip()).append('\t').append(w.pressure()).append('\t').append(cities[ci]).append('\t')
                        .append(w.tempF()).append('\t').append(w.timestamp().format(EmulatorSchema.DT)).append('\t')
                        .append(w.windDir()).append('\t').append(w.windSpeed()).append('\n');
                if (++inSlice == 40_000) {
                    c.query(sb.toString().getBytes(StandardCharsets.UTF_8), null).close();
                    inSlice = 0;
                }
            }
        }
        if (inSlice > 0) c.query(sb.toString().getBytes(StandardCharsets.UTF_8), null).close();
    }

    /** The SELECT of the seed's rows (an emulator's weather_data view, or the copy into its table). */
    static String view(long seed) {
        return "SELECT " + COLUMNS + " FROM " + table(seed);
    }
}
