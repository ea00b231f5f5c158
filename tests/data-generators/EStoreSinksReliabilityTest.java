import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** data-generators/e-store.java when things go wrong: a full disk, lost PostgreSQL connections, bad settings files. */
class EStoreSinksReliabilityTest {
    @TempDir Path tmp;

    record Result(int rc, String out, String err, EStore cmd) {}

    Result run(java.util.function.Consumer<EStore> tune, String... args) {
        EStore cmd = new EStore();
        cmd.common.config(Config.of(Map.of(), tmp, null));
        if (tune != null) tune.accept(cmd);
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = new CommandLine(cmd).setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(rc, out.toString(), err.toString(), cmd);
    }

    // ------------------------------------------------------------------ --out on a full disk

    @Test
    void aFullDiskLeavesNoFinalFileAndTheErrorNamesIt() throws Exception {
        try (FullDisk disk = FullDisk.mount("256k")) {
            Path out = disk.dir.resolve("ev.ndjson");
            Path tmpFile = disk.dir.resolve("ev.ndjson.tmp");

            Result r = run(null, "--count", "100000", "--seed", "1", "--out", out.toString());
            assertEquals(1, r.rc, r.err);
            assertFalse(Files.exists(out), "no final name after a failed write");
            assertFalse(Files.exists(tmpFile), "the partial temp file is deleted");
            assertEquals("e-store: cannot write " + out + ": No space left on device\n", r.err);

            // a file of an earlier run under that name is left as it was
            Files.writeString(out, "{\"earlier\":true}\n");
            r = run(null, "--count", "100000", "--seed", "1", "--out", out.toString());
            assertEquals(1, r.rc, r.err);
            assertTrue(r.err.contains(out.toString()), r.err);
            assertEquals("{\"earlier\":true}\n", Files.readString(out));
            assertFalse(Files.exists(tmpFile));

            // room enough: the whole file under its name, no temp file
            Files.delete(out);
            r = run(null, "--count", "200", "--seed", "1", "--out", out.toString());
            assertEquals(0, r.rc, r.err);
            assertEquals(200, Files.readAllLines(out).size());
            assertFalse(Files.exists(tmpFile));
        }
    }

    @Test
    void anUnwritableFolderIsOneLineNamingTheFile() {
        Path out = tmp.resolve("no-such-folder/ev.ndjson");
        Result r = run(null, "--count", "10", "--out", out.toString());
        assertEquals(1, r.rc, r.err);
        assertEquals("e-store: cannot write " + out + ": no such folder\n", r.err);
    }

    // ------------------------------------------------------------------ settings.yaml mistakes

    /** Every mistake in the settings file: exit 1 and exactly one line, FILE:LINE: and what is wrong with which key. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', textBlock = """
            duplicate key            | num_customers: 10\\nnum_products: 5\\nnum_customers: 20              | 3: duplicate key 'num_customers' (first on line 1)
            duplicate weight         | event_type_weights:\\n  view: 1\\n  cart: 2\\n  view: 3            | 4: duplicate key 'event_type_weights.view' (first on line 2)
            duplicate mapping key    | event_type_weights:\\n  view: 1\\nevent_type_weights:\\n  cart: 1  | 3: duplicate key 'event_type_weights' (first on line 1)
            unknown key              | num_customers: 10\\nnum_customer: 5                                 | 2: unknown key 'num_customer' (known: tinybird_api_endpoint, num_customers, num_products, duplicate_data_percentage, db_update_interval_minutes, write_to_postgres, event_type_weights, restock_threshold)
            unknown action           | event_type_weights:\\n  view: 1\\n  buy: 2                          | 3: event_type_weights: unknown action 'buy' (expected view, cart, uncart, purchase, return)
            list for a number        | num_customers: [1, 2]                                                | 1: num_customers: expected a single value
            mapping for a number     | num_products:\\n  a: 1                                               | 1: num_products: expected a single value
            text for a number        | num_products: lots                                                   | 1: num_products: expected a whole number from 1 to 1000000000, got 'lots'
            fraction for a count     | num_products: 1.5                                                    | 1: num_products: expected a whole number from 1 to 1000000000, got '1.5'
            negative count           | num_customers: -3                                                    | 1: num_customers: expected a whole number from 1 to 1000000000, got '-3'
            no value                 | num_customers:                                                       | 1: num_customers: expected a whole number from 1 to 1000000000, got ''
            percentage above 100     | duplicate_data_percentage: 101                                       | 1: duplicate_data_percentage: expected a percentage from 0 to 100, got '101'
            negative percentage      | duplicate_data_percentage: -1                                        | 1: duplicate_data_percentage: expected a percentage from 0 to 100, got '-1'
            negative interval        | db_update_interval_minutes: -5                                       | 1: db_update_interval_minutes: expected minutes (10) or a duration (30s, 2m), got '-5'
            interval too short       | db_update_interval_minutes: 10ms                                     | 1: db_update_interval_minutes: expected at least 100ms, got '10ms'
            interval past a year     | db_update_interval_minutes: 99999999999999999                        | 1: db_update_interval_minutes: expected at most a year (525600 minutes), got '99999999999999999'
            not a boolean            | write_to_postgres: maybe                                             | 1: write_to_postgres: expected true or false, got 'maybe'
            restock below -1         | restock_threshold: -2                                                | 1: restock_threshold: expected -1 (never) or a stock level >= 0, got '-2'
            weights not a mapping    | event_type_weights: 5                                                | 1: event_type_weights: expected a mapping (view: 65, cart: 15, ...)
            weight a list            | event_type_weights:\\n  view: [1]                                    | 2: event_type_weights.view: expected a single value
            negative weight          | event_type_weights:\\n  view: 10\\n  cart: -1                        | 3: event_type_weights.cart: expected a weight >= 0, got '-1'
            NaN weight               | event_type_weights:\\n  view: .nan                                   | 2: event_type_weights.view: expected a weight >= 0, got '.nan'
            infinite weights         | event_type_weights:\\n  view: 1e308\\n  cart: 1e308                  | 1: event_type_weights: the weights add up to more than a double holds
            all-zero weights         | event_type_weights:\\n  view: 0\\n  cart: 0                          | 1: event_type_weights: the weights add up to 0
            empty endpoint           | tinybird_api_endpoint: ''                                            | 1: tinybird_api_endpoint: expected the Events API URL, got nothing
            a list, not keys         | - num_customers: 5                                                   | 1: expected 'key: value' lines
            """)
    void aBadSettingsFileIsOneLineNamingFileLineAndKey(String name, String yaml, String error) throws Exception {
        Path file = tmp.resolve("settings.yaml");
        Files.writeString(file, yaml.replace("\\n", "\n") + "\n");
        Result r = run(null, "--config", file.toString(), "--count", "1");
        assertEquals(1, r.rc, r.err);
        assertEquals("e-store: " + file + ":" + error + "\n", r.err);
        assertEquals("", r.out, "nothing generated");
    }
}
