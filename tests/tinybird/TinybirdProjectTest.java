import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The repo's Tinybird project (tinybird/): every datafile reads, every endpoint renders with its tests' parameters. */
class TinybirdProjectTest {
    static final Path PROJECT = TestServices.repoRoot().resolve("tinybird");

    @TempDir Path dir;

    static TinybirdProject project() {
        return TinybirdProject.load(PROJECT);
    }

    @Test
    void theProjectHasTheResourcesTheScriptsUse() {
        TinybirdProject p = project();
        assertEquals(List.of("estore_events", "estore_product_daily", "weather_by_city", "weather_data", "weather_data_json"), List.copyOf(p.datasources().keySet()));
        assertEquals(List.of("api_cities", "current_conditions", "most_recent", "product_funnel", "reports", "reportsv2", "top_products"),
                p.endpoints().stream().map(TinybirdProject.Pipe::name).toList());
        assertEquals(List.of("estore_product_daily_mv", "weather_by_city_mv"), p.materializations().stream().map(TinybirdProject.Pipe::name).toList());
        assertEquals("weather_by_city", p.pipes().get("weather_by_city_mv").targetDatasource());
        assertEquals("estore_product_daily", p.pipes().get("estore_product_daily_mv").targetDatasource());
        assertEquals(List.of("estore_product_daily_mv"), p.materializationsFrom("estore_events").stream().map(TinybirdProject.Pipe::name).toList());
        assertEquals(Map.of("estore_events", PROJECT.resolve("fixtures/estore_events.ndjson"), "weather_data", PROJECT.resolve("fixtures/weather_data.ndjson")), p.fixtures());
        for (TinybirdProject.Pipe e : p.endpoints()) {
            assertFalse(e.tokens().isEmpty(), e.name() + " has a READ token");
            e.tokens().forEach(t -> assertEquals("READ", t.scope(), e.name()));
            assertNotNull(e.description(), e.name() + " has a DESCRIPTION");
        }
        // every parameter is typed and documented
        List<String> undocumented = new ArrayList<>();
        for (TinybirdProject.Pipe e : p.endpoints()) {
            for (PipeTemplate.Param prm : e.params()) if (prm.description() == null || prm.description().isBlank()) undocumented.add(e.name() + "." + prm.name());
        }
        assertEquals(List.of(), undocumented, "parameters without a description");
        assertEquals(List.of("city", "start_time", "end_time", "sensor_type", "max_results"),
                p.pipes().get("reports").params().stream().map(PipeTemplate.Param::name).toList());
        assertEquals(1000L, p.pipes().get("reports").params().get(4).defaultValue());
        assertEquals(p.params("reports"), p.params("reportsv2"), "reportsv2 takes the parameters of the reports endpoint it reads");
        assertTrue(p.datasources().get("weather_data").hasJsonPaths());
        assertTrue(p.datasources().get("estore_events").hasJsonPaths());
    }

    @Test
    void estoreEventsHasEveryFieldOfTheEvent() {
        TinybirdProject.Datasource ds = project().datasources().get("estore_events");
        String fields = java.util.Arrays.stream(EStoreEvent.FIELDS).map(f -> f.name() + " " + f.tbType() + " $." + f.name()).collect(Collectors.joining("\n"));
        String columns = ds.columns().stream().map(c -> c.name() + " " + c.type() + " " + c.jsonPath()).collect(Collectors.joining("\n"));
        assertEquals(fields, columns, "tinybird/datasources/estore_events.datasource follows data-generators/EStoreEvent.java's FIELDS (names, types, jsonpaths, order)");
    }

    @Test
    void weatherDataHasTheEmulatorsSchema() {
        TinybirdProject p = project();
        String emulator = EmulatorWeather.SCHEMA;
        for (String name : List.of("weather_data", "weather_data_json")) {
            String ours = p.datasources().get(name).columns().stream().map(c -> "`" + c.name() + "` " + c.type() + " `json:" + c.jsonPath() + "`")
                    .collect(Collectors.joining(", "));
            assertEquals(emulator, ours, name);
            assertEquals(emulator, p.datasources().get(name).schema(), name);
        }
    }

    @Test
    void everyEndpointRendersWithItsTestsParameters() {
        TinybirdProject p = project();
        List<TinybirdProjectTests.Case> cases = TinybirdProjectTests.load(p);
        assertEquals(p.endpoints().stream().map(TinybirdProject.Pipe::name).sorted().toList(),
                cases.stream().map(TinybirdProjectTests.Case::pipe).distinct().sorted().toList(), "every endpoint has tests");
        for (TinybirdProjectTests.Case c : cases) {
            int want = c.expectedHttpStatus() == null ? 200 : c.expectedHttpStatus();
            if (want == 400) {
                PipeTemplate.TemplateError e = assertThrows(PipeTemplate.TemplateError.class, () -> p.sql(c.pipe(), c.params()), c.where());
                assertEquals(400, e.status(), c.where());
                continue;
            }
            String sql = p.sql(c.pipe(), c.params());
            assertFalse(sql.contains("{{") || sql.contains("{%") || sql.contains("%}"), c.where() + ": nothing left unrendered:\n" + sql);
            assertFalse(sql.isBlank(), c.where());
            if (!c.expectedResult().isEmpty()) assertTrue(c.expectedResult().endsWith("\n") && !c.expectedResult().endsWith("\n\n"), c.where() + ": one row a line");
        }
        String apostrophe = p.sql("reports", TinybirdProjectTests.parseParameters("city=Coeur%20d'Alene&max_results=2"));
        assertTrue(apostrophe.contains("lowerUTF8(trimBoth('Coeur d\\'Alene'))"), apostrophe);
        String injection = p.sql("reports", TinybirdProjectTests.parseParameters("city=x')%3B%20drop%20table%20t%3B%20--"));
        assertTrue(injection.contains("lowerUTF8(trimBoth('x\\'); drop table t; --'))"), injection);
    }

    @Test
    void anEndpointIsOneSelectWithItsNodesAndTheEndpointsItReadsAsWithClauses() {
        TinybirdProject p = project();
        String reports = p.sql("reports", TinybirdProjectTests.parseParameters("city=Denver&start_time=2023-05-01%2004:00:00&max_results=3"));
        assertEquals("""
                WITH
                `reports_window` AS (
                SELECT clouds, description, humidity, precip, pressure, site_name, temp_f, timestamp, wind_dir, wind_speed
                    FROM weather_by_city
                    WHERE city_key = lowerUTF8(trimBoth('Denver'))
                    AND timestamp > '2023-05-01 04:00:00'
                ),
                `reports_sensor` AS (
                SELECT * FROM reports_window
                )
                SELECT *
                FROM reports_sensor
                ORDER BY timestamp DESC, site_name
                LIMIT 3
                """, reports.replaceAll("(?m)^[ \\t]+$", "").replaceAll("\n{2,}", "\n"));
        String v2 = p.sql("reportsv2", TinybirdProjectTests.parseParameters("city=Denver&max_results=3"));
        assertTrue(v2.startsWith("WITH\n`reports` AS (\nWITH\n`reports_window` AS ("), v2);
        assertTrue(v2.endsWith(")\nSELECT *\nFROM reports\nORDER BY timestamp DESC, site_name\n"), v2);
        assertTrue(v2.contains("LIMIT 3"), "the parameters reach the endpoint it reads");
        assertThrows(IllegalArgumentException.class, () -> p.sql("nope", Map.of()));
    }

    @Test
    void tablesAndMaterializedViewsForClickHouse() {
        TinybirdProject p = project();
        assertEquals("""
                CREATE TABLE IF NOT EXISTS `weather_data` (
                    `clouds` Int8,
                    `description` String,
                    `humidity` Int8,
                    `precip` Float32,
                    `pressure` Int8,
                    `site_name` String,
                    `temp_f` Float32,
                    `timestamp` DateTime,
                    `wind_dir` Int8,
                    `wind_speed` Float32
                ) ENGINE = MergeTree()
                PARTITION BY toYear(timestamp)
                ORDER BY (timestamp, site_name)""", p.createTableSql("weather_data"));
        assertTrue(p.createTableSql("estore_product_daily").contains("`revenue` AggregateFunction(sum, Decimal(10, 2)),\n"
                + "    `last_event` SimpleAggregateFunction(max, DateTime64(6))\n) ENGINE = AggregatingMergeTree()\nPARTITION BY toYYYYMM(day)\nORDER BY (day, product_id, action)"));
        String mv = p.materializedViewSql("estore_product_daily_mv");
        assertTrue(mv.startsWith("CREATE MATERIALIZED VIEW IF NOT EXISTS `estore_product_daily_mv` TO `estore_product_daily` AS\nSELECT\n"), mv);
        List<String> ddl = p.ddl();
        assertEquals(7, ddl.size());
        assertTrue(ddl.get(5).startsWith("CREATE MATERIALIZED VIEW") && ddl.get(6).startsWith("CREATE MATERIALIZED VIEW"), "views after the tables they feed");
    }

    // ------------------------------------------------------------------ bad datafiles

    Path write(String rel, String text) throws Exception {
        Path f = dir.resolve("proj").resolve(rel);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
        return f;
    }

    String loadError() {
        return assertThrows(TinybirdProject.DatafileException.class, () -> TinybirdProject.load(dir.resolve("proj"))).getMessage();
    }

    static final String DS = "SCHEMA >\n    `a` Int32 `json:$.a`,\n    `b` String `json:$.b`\n\nENGINE \"MergeTree\"\nENGINE_SORTING_KEY \"a\"\n";

    @Test
    void aBadDatafileIsOneLineNamingFileLineAndWhat() throws Exception {
        write("datasources/t.datasource", DS);
        write("endpoints/e.pipe", "TOKEN \"r\" READ\n\nNODE n\nSQL >\n    %\n    SELECT * FROM t WHERE a = {{ Int32(a, 1) }}\n\nTYPE endpoint\n");
        TinybirdProject ok = TinybirdProject.load(dir.resolve("proj"));
        assertEquals(List.of(new TinybirdProject.Column("a", "Int32", "$.a", null, null), new TinybirdProject.Column("b", "String", "$.b", null, null)),
                ok.datasources().get("t").columns());
        assertEquals("\nSELECT * FROM t WHERE a = 5\n".strip(), ok.sql("e", Map.of("a", List.of("5"))).strip());

        write("datasources/t.datasource", DS + "ENGINE_SORTNG_KEY \"a\"\n");
        assertTrue(loadError().startsWith("proj/datasources/t.datasource:7: unknown key ENGINE_SORTNG_KEY in a .datasource (known: "));

        write("datasources/t.datasource", "SCHEMA >\n    `a` Int32 `json:$.a`,\n    `b` `json:$.b`\n");
        assertEquals("proj/datasources/t.datasource:3: column b has no type", loadError());

        write("datasources/t.datasource", "SCHEMA >\n    `a` Int32 `json:a`\n");
        assertEquals("proj/datasources/t.datasource:2: the jsonpath of '`a` Int32 `json:a`' must start with $", loadError());

        write("datasources/t.datasource", "SCHEMA >\n    `a` Int32,\n    `a` String\n");
        assertEquals("proj/datasources/t.datasource:3: column a appears twice", loadError());

        write("datasources/t.datasource", "ENGINE MergeTree\n");
        assertEquals("proj/datasources/t.datasource:1: no SCHEMA (SCHEMA > then one `column` Type `json:$.path` a line)", loadError());

        write("datasources/t.datasource", DS.replace("ENGINE \"MergeTree\"", "ENGINE \"MergeTre\""));
        assertTrue(loadError().startsWith("proj/datasources/t.datasource:5: ENGINE MergeTre is not one of "));

        write("datasources/t.datasource", DS);
        write("endpoints/e.pipe", "NODE n\nDESCRIPTION >\n    no sql\n\nTYPE endpoint\n");
        assertEquals("proj/endpoints/e.pipe:1: NODE n has no SQL >", loadError());

        write("endpoints/e.pipe", "NODE n\nSQL >\n    %\n    SELECT {{ Int32(a, 1) }\n");
        assertEquals("proj/endpoints/e.pipe:4: '{{' is never closed with '}}'", loadError());

        write("endpoints/e.pipe", "NODE n\nSQL >\n    SELECT 1\nTYPE MATERIALIZED\n");
        assertEquals("proj/endpoints/e.pipe:3: TYPE MATERIALIZED needs DATASOURCE <target>", loadError());

        write("endpoints/e.pipe", "NODE n\nSQL >\n    SELECT 1\nTYPE MATERIALIZED\nDATASOURCE nowhere\n");
        assertEquals("proj/endpoints/e.pipe:3: DATASOURCE nowhere: no such data source in the project", loadError());

        write("endpoints/e.pipe", "NODE n\nSQL >\n    SELECT 1\nTYPE endpoint\nNODE m\nSQL >\n    SELECT 2\nTYPE endpoint\n");
        assertEquals("proj/endpoints/e.pipe:8: a second TYPE: NODE n is already endpoint", loadError());

        write("endpoints/e.pipe", "NODE n\nSQL >\n    SELECT 1\nTYPE view\n");
        assertEquals("proj/endpoints/e.pipe:4: TYPE view is not endpoint, materialized, copy or sink", loadError());

        write("endpoints/e.pipe", "NODE n\nSQL >\n    SELECT 1\n");
        write("endpoints/t.pipe", "NODE n\nSQL >\n    SELECT 1\n");
        assertEquals("proj/endpoints/t.pipe:1: 't' is also defined by proj/datasources/t.datasource", loadError());
        Files.delete(dir.resolve("proj/endpoints/t.pipe"));

        write("fixtures/other.ndjson", "{}\n");
        assertEquals("proj/fixtures/other.ndjson:1: a fixture names a data source, and there is no other.datasource", loadError());
        Files.delete(dir.resolve("proj/fixtures/other.ndjson"));

        write("endpoints/a.pipe", "NODE a_n\nSQL >\n    SELECT * FROM b\nTYPE endpoint\n");
        write("endpoints/b.pipe", "NODE b_n\nSQL >\n    SELECT * FROM a\nTYPE endpoint\n");
        assertEquals("proj/endpoints/a.pipe:1: the pipes reference each other in a cycle: a -> b -> a", loadError());
    }

    @Test
    void engineKeysTtlDefaultsAndCodecs() throws Exception {
        write("datasources/r.datasource", """
                DESCRIPTION >
                    Latest state per id.

                SCHEMA >
                    `id` UInt64 `json:$.id`,
                    `v` Int32 `json:$.payload.v` DEFAULT 0,
                    `note` String CODEC(ZSTD(1)) `json:$.note`,
                    `updated` DateTime `json:$.updated`

                ENGINE ReplacingMergeTree
                ENGINE_VER updated
                ENGINE_PARTITION_KEY toYYYYMM(updated)
                ENGINE_SORTING_KEY id
                ENGINE_TTL updated + INTERVAL 30 DAY
                ENGINE_SETTINGS index_granularity = 8192
                TOKEN r_append APPEND
                """);
        TinybirdProject p = TinybirdProject.load(dir.resolve("proj"));
        TinybirdProject.Datasource r = p.datasources().get("r");
        assertEquals(new TinybirdProject.Column("v", "Int32", "$.payload.v", "0", null), r.column("v"));
        assertEquals(new TinybirdProject.Column("note", "String", "$.note", null, "ZSTD(1)"), r.column("note"));
        assertEquals(List.of(new TinybirdProject.Token("r_append", "APPEND")), r.tokens());
        assertEquals("Latest state per id.", r.description());
        assertEquals("""
                CREATE TABLE IF NOT EXISTS `r` (
                    `id` UInt64,
                    `v` Int32 DEFAULT 0,
                    `note` String CODEC(ZSTD(1)),
                    `updated` DateTime
                ) ENGINE = ReplacingMergeTree(updated)
                PARTITION BY toYYYYMM(updated)
                ORDER BY (id)
                TTL updated + INTERVAL 30 DAY
                SETTINGS index_granularity = 8192""", p.createTableSql("r"));
        assertEquals("`id` UInt64 `json:$.id`, `v` Int32 `json:$.payload.v`, `note` String `json:$.note`, `updated` DateTime `json:$.updated`", r.schema());
    }

    @Test
    void anIndentedLineOutsideABlock() throws Exception {
        write("endpoints/e.pipe", "NODE n\nDESCRIPTION x\n  SELECT 2\n");
        assertEquals("proj/endpoints/e.pipe:3: an indented line outside a block (a 'KEY >' line starts one): SELECT 2", loadError());
    }

    // ------------------------------------------------------------------ tests/*.yaml

    @Test
    void testFilesAreReadAndComparedExactlyAsTbTestRunDoes() throws Exception {
        write("datasources/t.datasource", DS);
        write("endpoints/e.pipe", "NODE n\nSQL >\n    %\n    SELECT a FROM t WHERE a = {{ Int32(a, 1, description=\"a\") }}\n\nTYPE endpoint\n");
        write("tests/e.yaml", """
                - name: one_row
                  description: a row
                  parameters: a=5&b=x%20y&b=z
                  expected_result: |
                    {"a":5}

                - name: no_rows
                  parameters: a=6
                  expected_result: ''

                - name: bad_a
                  parameters: a=x
                  expected_http_status: 400
                  expected_result: ''
                """);
        TinybirdProject p = TinybirdProject.load(dir.resolve("proj"));
        List<TinybirdProjectTests.Case> cases = TinybirdProjectTests.load(p);
        assertEquals(List.of("one_row", "no_rows", "bad_a"), cases.stream().map(TinybirdProjectTests.Case::name).toList());
        TinybirdProjectTests.Case one = cases.get(0);
        assertEquals("proj/tests/e.yaml:1", one.where());
        assertEquals("{\"a\":5}\n", one.expectedResult());
        assertEquals(Map.of("a", List.of("5"), "b", List.of("x y", "z")), one.params());
        assertEquals(400, cases.get(2).expectedHttpStatus());

        List<String> asked = new ArrayList<>();
        TinybirdProjectTests.SqlRunner ch = sql -> {
            asked.add(sql);
            return sql.contains("a = 5") ? "{\"a\":5}\n" : "";
        };
        List<TinybirdProjectTests.Outcome> out = TinybirdProjectTests.runAll(p, cases, ch);
        assertEquals(List.of(true, true, true), out.stream().map(TinybirdProjectTests.Outcome::passed).toList(), out.toString());
        assertEquals(2, asked.size(), "a parameter error never reaches ClickHouse");
        assertTrue(asked.get(0).endsWith("\nFORMAT JSONEachRow\nSETTINGS output_format_json_quote_64bit_integers = 0"));
        assertEquals(400, out.get(2).status());

        // exact text: a missing last newline, another value or an error fail, with the line that differs
        TinybirdProjectTests.Outcome noNewline = TinybirdProjectTests.run(p, one, sql -> "{\"a\":5}");
        assertFalse(noNewline.passed());
        assertTrue(noNewline.message().contains("differs in its last newline"), noNewline.message());
        TinybirdProjectTests.Outcome other = TinybirdProjectTests.run(p, one, sql -> "{\"a\":6}\n");
        assertEquals("proj/tests/e.yaml:1: test 'one_row' of e: the result differs\n  line 1 expected: {\"a\":5}\n  line 1 actual:   {\"a\":6}\n"
                + "  (1 lines expected, 1 returned)", other.message());
        TinybirdProjectTests.Outcome failed = TinybirdProjectTests.run(p, one, sql -> {
            throw new Exception("Code: 62. DB::Exception: Syntax error");
        });
        assertEquals("proj/tests/e.yaml:1: test 'one_row' of e: HTTP 400, expected 200: Code: 62. DB::Exception: Syntax error", failed.message());
        TinybirdProjectTests.Outcome wrongStatus = TinybirdProjectTests.run(p, cases.get(2), sql -> "");
        assertTrue(wrongStatus.passed(), "the template refuses a=x before any SQL runs");
    }

    @Test
    void aBadTestFileIsOneLine() throws Exception {
        write("datasources/t.datasource", DS);
        write("endpoints/e.pipe", "NODE n\nSQL >\n    SELECT a FROM t\n\nTYPE endpoint\n");
        write("tests/e.yaml", "- name: x\n  parameters: a=1\n  expected: ''\n");
        assertEquals("proj/tests/e.yaml:3: unknown key 'expected' (known: name, description, parameters, expected_result, expected_http_status)",
                assertThrows(TinybirdProject.DatafileException.class, () -> TinybirdProjectTests.load(TinybirdProject.load(dir.resolve("proj")))).getMessage());
        write("tests/e.yaml", "- name: x\n  expected_result: ''\n- name: x\n  expected_result: ''\n");
        assertEquals("proj/tests/e.yaml:3: the test name 'x' appears twice",
                assertThrows(TinybirdProject.DatafileException.class, () -> TinybirdProjectTests.load(TinybirdProject.load(dir.resolve("proj")))).getMessage());
        write("tests/e.yaml", "- name: x\n  expected_result: |\n  bad: [\n");
        String yaml = assertThrows(TinybirdProject.DatafileException.class, () -> TinybirdProjectTests.load(TinybirdProject.load(dir.resolve("proj")))).getMessage();
        assertTrue(yaml.startsWith("proj/tests/e.yaml:") && yaml.contains("not valid YAML"), yaml);
        Files.delete(dir.resolve("proj/tests/e.yaml"));
        write("tests/nope.yaml", "- name: x\n  expected_result: ''\n");
        assertEquals("proj/tests/nope.yaml:1: a test file is named after its endpoint, and there is no endpoint nope",
                assertThrows(TinybirdProject.DatafileException.class, () -> TinybirdProjectTests.load(TinybirdProject.load(dir.resolve("proj")))).getMessage());
    }
}
