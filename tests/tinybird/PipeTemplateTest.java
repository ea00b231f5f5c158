import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Tinybird's template language: typed parameters as ClickHouse literals, control flow, errors as Tinybird answers them. */
class PipeTemplateTest {
    static PipeTemplate t(String body) {
        return PipeTemplate.parse("%\n" + body, "x.pipe", 10);
    }

    static String render(String body, String... kv) {
        return t(body).render(params(kv));
    }

    static Map<String, List<String>> params(String... kv) {
        Map<String, List<String>> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.computeIfAbsent(kv[i], k -> new java.util.ArrayList<>()).add(kv[i + 1]);
        return m;
    }

    static PipeTemplate.TemplateError refused(String body, String... kv) {
        return assertThrows(PipeTemplate.TemplateError.class, () -> render(body, kv));
    }

    @Test
    void valuesAreQuotedLiteralsNeverPastedText() {
        assertEquals("WHERE c = 'Coeur d\\'Alene'\n", render("WHERE c = {{ String(city) }}", "city", "Coeur d'Alene"));
        assertEquals("WHERE c = 'x\\'); drop table t; --'\n", render("WHERE c = {{ String(city) }}", "city", "x'); drop table t; --"));
        assertEquals("'a\\\\\\'b\\nc\\td\\0'", PipeTemplate.quote("a\\'b\nc\td\0"));
        assertEquals("'\\x01'", PipeTemplate.quote("\u0001"));
        // a bare name is a quoted string too
        assertEquals("'1 OR 1=1'\n", render("{{ city }}", "city", "1 OR 1=1"));
        assertEquals("`a\\`b`", PipeTemplate.ident("a`b"));
    }

    @Test
    void typedParametersAreCheckedAndWrittenAsTheirType() {
        assertEquals("LIMIT 10\n", render("LIMIT {{ Int32(n, 10) }}"));
        assertEquals("LIMIT 25\n", render("LIMIT {{ Int32(n, 10) }}", "n", " 25 "));
        assertEquals("-2147483648\n", render("{{ Int32(n) }}", "n", "-2147483648"));
        assertEquals("18446744073709551615\n", render("{{ UInt64(n) }}", "n", "18446744073709551615"));
        assertEquals("1.5\n", render("{{ Float64(x) }}", "x", "1.5"));
        assertEquals("1 0\n", render("{{ Boolean(a) }} {{ Boolean(b, True) }}", "a", "true", "b", "0"));
        assertEquals("'2024-02-29'\n", render("{{ Date(d) }}", "d", "2024-02-29"));
        assertEquals("'2024-04-29 16:00:00'\n", render("{{ DateTime(t) }}", "t", "2024-04-29 16:00:00"));
        assertEquals("'2024-04-29 16:00:00'\n", render("{{ DateTime(t) }}", "t", "2024-04-29T18:00:00+02:00"), "an offset is taken to UTC");
        assertEquals("'2024-04-29 00:00:00'\n", render("{{ DateTime(t) }}", "t", "2024-04-29"));
        assertEquals("'2024-04-29 16:00:00.123456'\n", render("{{ DateTime64(t) }}", "t", "2024-04-29 16:00:00.123456"));
        assertEquals("[1, 2, 3]\n", render("{{ Array(ids, 'Int32') }}", "ids", "1,2", "ids", "3"), "repeated keys and commas");
        assertEquals("['a\\'b', 'c']\n", render("{{ Array(s, 'String', default='x') }}", "s", "a'b,c"));
        assertEquals("['x']\n", render("{{ Array(s, 'String', default='x') }}"));
    }

    @Test
    void badValuesAreA400WithTinybirdsBody() {
        PipeTemplate.TemplateError e = refused("{{ Int32(max_results, 1000) }}", "max_results", "ten");
        assertEquals(400, e.status());
        assertEquals("Template Syntax Error: Error validating 'ten' to type Int32 for parameter 'max_results'", e.getMessage());
        assertEquals("{\"error\": \"Template Syntax Error: Error validating 'ten' to type Int32 for parameter 'max_results'\", "
                + "\"documentation\": \"" + PipeTemplate.DOCS + "\"}", e.jsonBody());
        assertEquals("Template Syntax Error: Error validating '2147483648' to type Int32 for parameter 'n'", refused("{{ Int32(n) }}", "n", "2147483648").getMessage());
        assertEquals("Template Syntax Error: Error validating '-1' to type UInt8 for parameter 'n'", refused("{{ UInt8(n) }}", "n", "-1").getMessage());
        assertEquals("Template Syntax Error: Error validating 'NaN' to type Float64 for parameter 'x'", refused("{{ Float64(x) }}", "x", "NaN").getMessage());
        assertEquals("Template Syntax Error: Error validating 'yes' to type Boolean for parameter 'b'", refused("{{ Boolean(b) }}", "b", "yes").getMessage());
        assertEquals("Template Syntax Error: Error validating '2023-02-29' to type Date for parameter 'd'", refused("{{ Date(d) }}", "d", "2023-02-29").getMessage());
        assertEquals("Template Syntax Error: Error validating 'yesterday' to type DateTime for parameter 't'", refused("{{ DateTime(t) }}", "t", "yesterday").getMessage());
        assertEquals("Template Syntax Error: Error validating 'x' to type Int32 for parameter 'ids'", refused("{{ Array(ids, 'Int32') }}", "ids", "1,x").getMessage());
        String longValue = "y".repeat(500);
        assertTrue(refused("{{ Int8(n) }}", "n", longValue).getMessage().contains("'" + "y".repeat(100) + "...'"), "a value is cut at 100 characters");
        // a quote in the message stays JSON
        assertTrue(refused("{{ Int8(n) }}", "n", "a\"b").jsonBody().contains("'a\\\"b'"));
    }

    @Test
    void requiredAndMissingParameters() {
        PipeTemplate.TemplateError e = refused("{{ DateTime(start_time, required=True) }}");
        assertEquals(400, e.status());
        assertEquals("[Error] Missing columns: 'start_time' while processing query: the parameter 'start_time' is required", e.getMessage());
        assertTrue(refused("{{ DateTime(start_time, required=True) }}", "start_time", "").getMessage().contains("Error validating '' to type DateTime"),
                "an empty value is a value (Tinybird's defined('') is true), not a DateTime");
        assertEquals("[Error] Missing columns: 'city' while processing query: the parameter 'city' is required", refused("x = {{ String(city) }}").getMessage());
    }

    @Test
    void ifElifElseEndDefinedAndComparisons() {
        String body = """
                {% if defined(city) and String(sensor, 'all') == 'temp' %}A{% elif not defined(city) %}B{% else %}C{% end %}
                {% if Int32(n, 5) > 3 and Int32(n, 5) != 7 %}big{% end %}{% if x in ['a', 'b'] %}in{% end %}{% if x not in ['a'] %}out{% end %}
                {% set y = 'z' %}{{ String(y) }}{# a comment {{ not rendered }} #}""";
        assertEquals("B\nbigout\n'z'\n", render(body), "an undefined x is in no list");
        assertEquals("A\nbigin\n'z'\n", render(body, "city", "Denver", "sensor", "temp", "x", "a"));
        assertEquals("C\nbiginout\n'z'\n", render(body, "city", "Denver", "x", "b"));
        assertEquals("C\ninout\n'z'\n", render(body, "city", "Denver", "n", "7", "x", "b"));
        assertEquals("ok\n", render("{% if Boolean(flag, False) %}ok{% else %}no{% end %}", "flag", "true"));
        assertEquals("no\n", render("{% if Boolean(flag, False) %}ok{% else %}no{% end %}"));
    }

    @Test
    void errorAndColumns() {
        PipeTemplate.TemplateError e = refused("{% if Int32(n, 1) < 0 %}{{ error('n must be >= 0', 400) }}{% end %}", "n", "-3");
        assertEquals(400, e.status());
        assertEquals("n must be >= 0", e.getMessage());
        assertEquals("ORDER BY `site_name`\n", render("ORDER BY {{ column(sort, 'timestamp') }}", "sort", "site_name"));
        assertEquals("ORDER BY `timestamp`\n", render("ORDER BY {{ column(sort, 'timestamp') }}"));
        assertEquals("SELECT `a`, `b`\n", render("SELECT {{ columns(cols, 'a,b') }}"));
        assertEquals("Template Syntax Error: 'x; drop' is not a column name (parameter 'sort')",
                refused("ORDER BY {{ column(sort, 'timestamp') }}", "sort", "x; drop").getMessage());
    }

    @Test
    void sqlWithoutThePercentLineIsNotATemplate() {
        PipeTemplate p = PipeTemplate.parse("SELECT '{{ x }}' FROM t\n", "x.pipe", 1);
        assertFalse(p.isTemplate());
        assertEquals("SELECT '{{ x }}' FROM t\n", p.render(params("x", "1")));
    }

    @Test
    void aBadTemplateIsOneLineNamingFileAndLine() {
        assertEquals("x.pipe:13: {% if %} without {% end %}",
                assertThrows(TinybirdProject.DatafileException.class, () -> t("SELECT 1\n\n{% if defined(x) %}\nAND 1\n")).getMessage());
        assertEquals("x.pipe:12: {% end %} without an {% if %}",
                assertThrows(TinybirdProject.DatafileException.class, () -> t("SELECT 1\n{% end %}")).getMessage());
        String unknown = assertThrows(TinybirdProject.DatafileException.class, () -> t("{{ Strin(city) }}")).getMessage();
        assertTrue(unknown.startsWith("x.pipe:11: unknown function Strin() (known: "), unknown);
        assertEquals("x.pipe:11: String() takes the parameter's name first in 'String('city')'",
                assertThrows(TinybirdProject.DatafileException.class, () -> t("{{ String('city') }}")).getMessage());
        assertEquals("x.pipe:11: '{{' is never closed with '}}'", assertThrows(TinybirdProject.DatafileException.class, () -> t("{{ String(city)")).getMessage());
        assertEquals("x.pipe:11: unknown template tag {% for %} (known: if, elif, else, end, set)",
                assertThrows(TinybirdProject.DatafileException.class, () -> t("{% for x in y %}")).getMessage());
    }

    @Test
    void declaredParametersWithTypeDefaultDescription() {
        PipeTemplate p = t("""
                {% if defined(city) %}{{ String(city, description="The city") }}{% end %}
                {{ Int32(max_results, 1000, description="Most rows") }} {{ DateTime(start_time, required=True) }}""");
        assertEquals(List.of(new PipeTemplate.Param("city", "String", null, "The city", false),
                new PipeTemplate.Param("max_results", "Int32", 1000L, "Most rows", false),
                new PipeTemplate.Param("start_time", "DateTime", null, null, true)), p.params());
    }
}
