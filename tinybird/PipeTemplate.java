/*
 * Tinybird's template language for the SQL of a pipe node: a node whose SQL starts with a line '%' is a template,
 * with {{ expression }} (a value, written into the SQL), {% if %} / {% elif %} / {% else %} / {% end %},
 * {% set name = expression %} and {# comments #}. The expressions are the small Python subset Tinybird documents:
 * the typed parameter functions String(name, default, description=..., required=...), Int8..Int256, UInt8..UInt256,
 * Float32/64, Boolean, Date, DateTime, DateTime64, Array(name, 'Type', default=...), defined(name), column(name,
 * default), columns(name, default), error(message, code); literals, names, and/or/not, comparisons and 'in'.
 * Why here and not a Python template engine: the emulator and the unit tests run it in the JVM, and the rendering has
 * to refuse what Tinybird refuses (a bad value is a 400 with Tinybird's JSON body, not a ClickHouse error).
 * Invariant: a request's value reaches the SQL only as a ClickHouse literal built by literal() (or an identifier
 * checked by column()), never as pasted text.
 */
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class PipeTemplate {
    /** The error body's documentation link, as Tinybird sends it. */
    static final String DOCS = "https://www.tinybird.co/docs/forward/work-with-data/query-parameters";

    /**
     * A request Tinybird refuses: the HTTP status (400 for a parameter error) and the message of its JSON body
     * {@code {"error": "...", "documentation": "..."}}; the message never holds more than 100 characters of a value.
     */
    public static final class TemplateError extends RuntimeException {
        private final int status;

        public TemplateError(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }

        /** Tinybird's JSON error body. */
        public String jsonBody() {
            return "{\"error\": " + Cli.jsonString(getMessage()) + ", \"documentation\": " + Cli.jsonString(DOCS) + "}";
        }
    }

    /** A parameter the template declares with a type function whose arguments are literals. */
    public record Param(String name, String type, Object defaultValue, String description, boolean required) {}

    private final String source;
    private final boolean template;
    private final List<Part> parts;

    private PipeTemplate(String source, boolean template, List<Part> parts) {
        this.source = source;
        this.template = template;
        this.parts = parts;
    }

    /**
     * Parses the SQL of a node. {@code file} and {@code firstLine} (the file line of the text's first line) place the
     * one-line error of a bad template ({@link TinybirdProject.DatafileException}).
     */
    public static PipeTemplate parse(String sql, String file, int firstLine) {
        List<String> lines = sql.lines().toList();
        int i = 0;
        while (i < lines.size() && lines.get(i).isBlank()) i++;
        if (i == lines.size() || !lines.get(i).strip().equals("%")) return new PipeTemplate(sql, false, List.of(new Text(sql)));
        StringBuilder body = new StringBuilder();
        for (int j = i + 1; j < lines.size(); j++) body.append(lines.get(j)).append('\n');
        Parser p = new Parser(body.toString(), file, firstLine + i + 1);
        List<Part> parts = p.parseBlock(true);
        return new PipeTemplate(sql, true, parts);
    }

    /** The text as written in the datafile. */
    public String source() {
        return source;
    }

    /** Whether the text is a template (its first line is '%'). */
    public boolean isTemplate() {
        return template;
    }

    /**
     * The SQL for a request's parameters (name -> values; a repeated key has several; an empty value is a value, as in
     * Tinybird's templates: defined, '' for a String, a validation error for other types). Throws {@link TemplateError} (400) for a value that doesn't fit its type, a missing required parameter,
     * or an error() the template raises.
     */
    public String render(Map<String, List<String>> params) {
        if (!template) return source;
        StringBuilder out = new StringBuilder();
        Ctx c = new Ctx(params == null ? Map.of() : params);
        renderParts(parts, c, out);
        return out.toString();
    }

    /** The parameters declared with a type function (first declaration of each name wins; later ones fill gaps). */
    public List<Param> params() {
        Map<String, Param> m = new LinkedHashMap<>();
        collectParams(parts, m);
        return List.copyOf(m.values());
    }

    /** A ClickHouse string literal: quotes, backslashes and control characters escaped. */
    public static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('\'');
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '\'' -> b.append("\\'");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\0' -> b.append("\\0");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (ch < 0x20 || ch == 0x7f) b.append(String.format("\\x%02X", (int) ch));
                    else b.append(ch);
                }
            }
        }
        return b.append('\'').toString();
    }

    /** A ClickHouse identifier in backquotes. */
    public static String ident(String s) {
        return "`" + s.replace("\\", "\\\\").replace("`", "\\`") + "`";
    }

    // ------------------------------------------------------------------ the template's parts

    private sealed interface Part permits Text, Out, If, Set {}

    private record Text(String text) implements Part {}

    private record Out(Expr e, int line) implements Part {}

    private record If(List<Expr> conds, List<List<Part>> bodies, List<Part> otherwise) implements Part {}

    private record Set(String name, Expr e) implements Part {}

    private sealed interface Expr permits Lit, Name, Call, Not, Bool, Cmp, ListExpr, Neg, Arith {}

    private record Lit(Object v) implements Expr {}

    private record Name(String n) implements Expr {}

    private record Call(String fn, List<Expr> args, Map<String, Expr> kwargs, int line) implements Expr {}

    private record Not(Expr e) implements Expr {}

    private record Bool(boolean and, Expr l, Expr r) implements Expr {}

    private record Cmp(String op, Expr l, Expr r) implements Expr {}

    private record ListExpr(List<Expr> items) implements Expr {}

    private record Neg(Expr e) implements Expr {}

    private record Arith(char op, Expr l, Expr r) implements Expr {}

    /** A parameter that was not given (and has no default): false, equal to nothing, never written. */
    private enum Undefined { VALUE }

    /** A typed parameter value: the Java value (for comparisons) and its ClickHouse literal. */
    private record Typed(Object value, String literal) {}

    /** A column identifier from column()/columns(): written as is (checked to be a plain name). */
    private record Raw(String sql) {}

    static final java.util.Set<String> INT_TYPES = java.util.Set.of("Int8", "Int16", "Int32", "Int64", "Int128", "Int256",
            "UInt8", "UInt16", "UInt32", "UInt64", "UInt128", "UInt256");
    static final java.util.Set<String> TYPE_FUNCTIONS;
    static final java.util.Set<String> FUNCTIONS;

    static {
        java.util.Set<String> t = new java.util.HashSet<>(INT_TYPES);
        t.addAll(List.of("String", "Float32", "Float64", "Boolean", "Date", "DateTime", "DateTime64", "Array"));
        TYPE_FUNCTIONS = java.util.Set.copyOf(t);
        java.util.Set<String> f = new java.util.HashSet<>(t);
        f.addAll(List.of("defined", "column", "columns", "error", "len"));
        FUNCTIONS = java.util.Set.copyOf(f);
    }

    // ------------------------------------------------------------------ parsing

    private static final class Parser {
        final String s;
        final String file;
        final int line0;
        int pos;
        String pendingTag; // the tag that ended the last block (elif/else/end), with its expression text
        int pendingLine;

        Parser(String s, String file, int line0) {
            this.s = s;
            this.file = file;
            this.line0 = line0;
        }

        int lineAt(int p) {
            int n = line0;
            for (int i = 0; i < p && i < s.length(); i++) if (s.charAt(i) == '\n') n++;
            return n;
        }

        TinybirdProject.DatafileException error(int line, String what) {
            return new TinybirdProject.DatafileException(file + ":" + line + ": " + what);
        }

        /** Parts up to the end of the text (top) or to an elif/else/end tag (left in pendingTag). */
        List<Part> parseBlock(boolean top) {
            List<Part> out = new ArrayList<>();
            while (pos < s.length()) {
                int open = nextOpen(pos);
                if (open < 0) {
                    out.add(new Text(s.substring(pos)));
                    pos = s.length();
                    break;
                }
                if (open > pos) out.add(new Text(s.substring(pos, open)));
                char kind = s.charAt(open + 1);
                String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
                int end = findClose(open + 2, close);
                int line = lineAt(open);
                if (end < 0) throw error(line, "'" + s.substring(open, open + 2) + "' is never closed with '" + close + "'");
                String inner = s.substring(open + 2, end).strip();
                pos = end + 2;
                if (kind == '#') continue;
                if (kind == '{') {
                    if (inner.isEmpty()) throw error(line, "empty {{ }}");
                    out.add(new Out(expr(inner, line), line));
                    continue;
                }
                String word = inner.split("\\s+", 2)[0];
                String rest = inner.length() > word.length() ? inner.substring(word.length()).strip() : "";
                switch (word) {
                    case "if" -> out.add(parseIf(rest, line));
                    case "elif", "else", "end" -> {
                        if (top) throw error(line, "{% " + word + " %} without an {% if %}");
                        pendingTag = inner;
                        pendingLine = line;
                        return out;
                    }
                    case "set" -> {
                        Matcher m = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)\\s*=(?!=)\\s*(.+)", Pattern.DOTALL).matcher(rest);
                        if (!m.matches()) throw error(line, "{% set %} needs 'name = expression'");
                        out.add(new Set(m.group(1), expr(m.group(2), line)));
                    }
                    default -> throw error(line, "unknown template tag {% " + word + " %} (known: if, elif, else, end, set)");
                }
            }
            if (!top) throw error(pendingLine, "{% if %} without {% end %}");
            return out;
        }

        If parseIf(String cond, int line) {
            if (cond.isEmpty()) throw error(line, "{% if %} without a condition");
            List<Expr> conds = new ArrayList<>();
            List<List<Part>> bodies = new ArrayList<>();
            conds.add(expr(cond, line));
            pendingLine = line;
            while (true) {
                pendingTag = null;
                List<Part> body = parseBlock(false);
                String tag = pendingTag;
                int tagLine = pendingLine;
                if (tag.startsWith("elif")) {
                    bodies.add(body);
                    String c = tag.substring(4).strip();
                    if (c.isEmpty()) throw error(tagLine, "{% elif %} without a condition");
                    conds.add(expr(c, tagLine));
                } else if (tag.equals("else")) {
                    bodies.add(body);
                    pendingTag = null;
                    List<Part> otherwise = parseBlock(false);
                    if (!pendingTag.equals("end")) throw error(pendingLine, "{% " + pendingTag + " %} after {% else %}");
                    return new If(conds, bodies, otherwise);
                } else if (tag.equals("end")) {
                    bodies.add(body);
                    return new If(conds, bodies, List.of());
                } else {
                    throw error(tagLine, "unexpected {% " + tag + " %}");
                }
            }
        }

        int nextOpen(int from) {
            for (int i = from; i + 1 < s.length(); i++) {
                if (s.charAt(i) == '{') {
                    char n = s.charAt(i + 1);
                    if (n == '{' || n == '%' || n == '#') return i;
                }
            }
            return -1;
        }

        int findClose(int from, String close) {
            char q = 0;
            for (int i = from; i < s.length(); i++) {
                char ch = s.charAt(i);
                if (q != 0) {
                    if (ch == '\\') i++;
                    else if (ch == q) q = 0;
                } else if (ch == '\'' || ch == '"') {
                    if (!close.equals("#}")) q = ch;
                } else if (s.startsWith(close, i)) {
                    return i;
                }
            }
            return -1;
        }

        Expr expr(String text, int line) {
            ExprParser p = new ExprParser(text, line, this);
            Expr e = p.or();
            p.skipWs();
            if (p.i < text.length()) throw error(line, "cannot read '" + text.substring(p.i) + "' in '" + text + "'");
            return e;
        }
    }

    private static final class ExprParser {
        final String t;
        final int line;
        final Parser outer;
        int i;

        ExprParser(String t, int line, Parser outer) {
            this.t = t;
            this.line = line;
            this.outer = outer;
        }

        TinybirdProject.DatafileException error(String what) {
            return outer.error(line, what + " in '" + t.strip() + "'");
        }

        void skipWs() {
            while (i < t.length() && Character.isWhitespace(t.charAt(i))) i++;
        }

        boolean word(String w) {
            skipWs();
            if (t.startsWith(w, i) && (i + w.length() == t.length() || !Character.isLetterOrDigit(t.charAt(i + w.length())) && t.charAt(i + w.length()) != '_')) {
                i += w.length();
                return true;
            }
            return false;
        }

        boolean sym(String w) {
            skipWs();
            if (t.startsWith(w, i)) {
                i += w.length();
                return true;
            }
            return false;
        }

        Expr or() {
            Expr l = and();
            while (word("or")) l = new Bool(false, l, and());
            return l;
        }

        Expr and() {
            Expr l = not();
            while (word("and")) l = new Bool(true, l, not());
            return l;
        }

        Expr not() {
            int save = i;
            if (word("not")) {
                skipWs();
                if (t.startsWith("in", i) && (i + 2 == t.length() || !Character.isLetterOrDigit(t.charAt(i + 2)))) i = save; // 'not in' is a comparison
                else return new Not(not());
            }
            return cmp();
        }

        Expr cmp() {
            Expr l = add();
            while (true) {
                skipWs();
                String op = null;
                for (String o : new String[] {"==", "!=", "<=", ">=", "<", ">"}) {
                    if (t.startsWith(o, i)) {
                        op = o;
                        i += o.length();
                        break;
                    }
                }
                if (op == null) {
                    int save = i;
                    if (word("not") && word("in")) op = "not in";
                    else {
                        i = save;
                        if (word("in")) op = "in";
                        else if (word("is")) op = word("not") ? "!=" : "==";
                    }
                }
                if (op == null) return l;
                l = new Cmp(op, l, add());
            }
        }

        Expr add() {
            Expr l = unary();
            while (true) {
                skipWs();
                if (i < t.length() && (t.charAt(i) == '+' || t.charAt(i) == '-' || t.charAt(i) == '*')) {
                    char op = t.charAt(i++);
                    l = new Arith(op, l, unary());
                } else {
                    return l;
                }
            }
        }

        Expr unary() {
            if (sym("-")) return new Neg(unary());
            return primary();
        }

        Expr primary() {
            skipWs();
            if (i >= t.length()) throw error("an expression ends too early");
            char ch = t.charAt(i);
            if (ch == '(') {
                i++;
                Expr e = or();
                if (!sym(")")) throw error("missing ')'");
                return e;
            }
            if (ch == '[') {
                i++;
                List<Expr> items = new ArrayList<>();
                if (!sym("]")) {
                    do items.add(or()); while (sym(","));
                    if (!sym("]")) throw error("missing ']'");
                }
                return new ListExpr(items);
            }
            if (ch == '\'' || ch == '"') return new Lit(string(ch));
            if (Character.isDigit(ch)) {
                int st = i;
                while (i < t.length() && (Character.isDigit(t.charAt(i)) || t.charAt(i) == '.' || t.charAt(i) == 'e' || t.charAt(i) == 'E')) i++;
                String n = t.substring(st, i);
                try {
                    return new Lit(n.contains(".") || n.contains("e") || n.contains("E") ? (Object) Double.parseDouble(n) : (Object) Long.parseLong(n));
                } catch (NumberFormatException e) {
                    throw error("bad number '" + n + "'");
                }
            }
            if (Character.isLetter(ch) || ch == '_') {
                int st = i;
                while (i < t.length() && (Character.isLetterOrDigit(t.charAt(i)) || t.charAt(i) == '_')) i++;
                String n = t.substring(st, i);
                switch (n) {
                    case "True": return new Lit(Boolean.TRUE);
                    case "False": return new Lit(Boolean.FALSE);
                    case "None": return new Lit(null);
                    default: break;
                }
                if (sym("(")) return call(n);
                return new Name(n);
            }
            throw error("unexpected '" + ch + "'");
        }

        Expr call(String fn) {
            if (!FUNCTIONS.contains(fn)) throw error("unknown function " + fn + "() (known: " + String.join(", ", new java.util.TreeSet<>(FUNCTIONS)) + ")");
            List<Expr> args = new ArrayList<>();
            Map<String, Expr> kw = new LinkedHashMap<>();
            if (!sym(")")) {
                do {
                    skipWs();
                    Matcher m = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)\\s*=(?!=)").matcher(t).region(i, t.length());
                    if (m.lookingAt()) {
                        i = m.end();
                        kw.put(m.group(1), or());
                    } else {
                        if (!kw.isEmpty()) throw error("a positional argument after a keyword argument");
                        args.add(or());
                    }
                } while (sym(","));
                if (!sym(")")) throw error("missing ')' after the arguments of " + fn + "()");
            }
            boolean needsName = TYPE_FUNCTIONS.contains(fn) || fn.equals("defined") || fn.equals("column") || fn.equals("columns");
            if (needsName && (args.isEmpty() || !(args.get(0) instanceof Name))) throw error(fn + "() takes the parameter's name first");
            if (fn.equals("Array") && (args.size() < 2 || !(args.get(1) instanceof Lit l) || !(l.v() instanceof String))) {
                throw error("Array() takes the parameter's name and its element type, e.g. Array(ids, 'Int32')");
            }
            return new Call(fn, args, kw, line);
        }

        String string(char q) {
            StringBuilder b = new StringBuilder();
            i++;
            while (i < t.length()) {
                char ch = t.charAt(i++);
                if (ch == q) return b.toString();
                if (ch == '\\' && i < t.length()) {
                    char e = t.charAt(i++);
                    b.append(switch (e) {
                        case 'n' -> '\n';
                        case 't' -> '\t';
                        case 'r' -> '\r';
                        default -> e;
                    });
                } else {
                    b.append(ch);
                }
            }
            throw error("a string is never closed");
        }
    }

    // ------------------------------------------------------------------ rendering

    private static final class Ctx {
        final Map<String, List<String>> params;
        final Map<String, Object> vars = new LinkedHashMap<>();

        Ctx(Map<String, List<String>> params) {
            this.params = params;
        }

        /** The values given for a name, or null when it is not given. */
        List<String> given(String name) {
            if (vars.containsKey(name)) return null;
            List<String> v = params.get(name);
            if (v == null) return null;
            List<String> out = v.stream().filter(x -> x != null).toList();
            return out.isEmpty() ? null : out;
        }

        boolean defined(String name) {
            if (vars.containsKey(name)) return !(vars.get(name) instanceof Undefined) && vars.get(name) != null;
            return given(name) != null;
        }
    }

    private void renderParts(List<Part> ps, Ctx c, StringBuilder out) {
        for (Part p : ps) {
            switch (p) {
                case Text t -> out.append(t.text());
                case Out o -> out.append(literal(eval(o.e(), c), o.e()));
                case Set st -> c.vars.put(st.name(), eval(st.e(), c));
                case If f -> {
                    boolean done = false;
                    for (int k = 0; k < f.conds().size() && !done; k++) {
                        if (truthy(eval(f.conds().get(k), c))) {
                            renderParts(f.bodies().get(k), c, out);
                            done = true;
                        }
                    }
                    if (!done) renderParts(f.otherwise(), c, out);
                }
            }
        }
    }

    private static Object eval(Expr e, Ctx c) {
        return switch (e) {
            case Lit l -> l.v();
            case Name n -> c.vars.containsKey(n.n()) ? c.vars.get(n.n()) : name(c, n.n());
            case Not n -> !truthy(eval(n.e(), c));
            case Bool b -> {
                Object l = eval(b.l(), c);
                if (b.and() ? !truthy(l) : truthy(l)) yield l;
                yield eval(b.r(), c);
            }
            case Cmp cm -> compare(cm.op(), plain(eval(cm.l(), c)), plain(eval(cm.r(), c)));
            case ListExpr le -> le.items().stream().map(x -> plain(eval(x, c))).toList();
            case Neg n -> {
                Object v = plain(eval(n.e(), c));
                if (v instanceof Long x) yield -x;
                if (v instanceof Double x) yield -x;
                if (v instanceof BigInteger x) yield x.negate();
                throw new TemplateError(400, "Template Syntax Error: cannot negate " + describe(v));
            }
            case Arith a -> arith(a.op(), plain(eval(a.l(), c)), plain(eval(a.r(), c)));
            case Call call -> call(call, c);
        };
    }

    /** A bare name: the request's value as text (several values: a list), or Undefined. */
    private static Object name(Ctx c, String n) {
        List<String> v = c.given(n);
        if (v == null) return Undefined.VALUE;
        return v.size() == 1 ? v.get(0) : v;
    }

    private static Object plain(Object v) {
        return v instanceof Typed t ? t.value() : v;
    }

    private static boolean truthy(Object v) {
        v = plain(v);
        if (v == null || v instanceof Undefined) return false;
        if (v instanceof Boolean b) return b;
        if (v instanceof String s) return !s.isEmpty();
        if (v instanceof Long x) return x != 0;
        if (v instanceof Double x) return x != 0;
        if (v instanceof BigInteger x) return x.signum() != 0;
        if (v instanceof List<?> l) return !l.isEmpty();
        return true;
    }

    private static boolean compare(String op, Object l, Object r) {
        if (op.equals("in") || op.equals("not in")) {
            boolean in = r instanceof List<?> list ? list.stream().anyMatch(x -> equal(l, x))
                    : r instanceof String s && l instanceof String x && s.contains(x);
            return op.equals("in") == in;
        }
        if (op.equals("==")) return equal(l, r);
        if (op.equals("!=")) return !equal(l, r);
        if (l instanceof Undefined || r instanceof Undefined || l == null || r == null) return false;
        int k;
        if (l instanceof Number a && r instanceof Number b) k = num(a).compareTo(num(b));
        else if (l instanceof Comparable<?> && l.getClass() == r.getClass()) k = compareSame(l, r);
        else throw new TemplateError(400, "Template Syntax Error: cannot compare " + describe(l) + " with " + describe(r));
        return switch (op) {
            case "<" -> k < 0;
            case "<=" -> k <= 0;
            case ">" -> k > 0;
            default -> k >= 0;
        };
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static int compareSame(Object l, Object r) {
        return ((Comparable) l).compareTo(r);
    }

    private static boolean equal(Object l, Object r) {
        if (l instanceof Undefined || r instanceof Undefined) return l == r;
        if (l instanceof Number a && r instanceof Number b) return num(a).compareTo(num(b)) == 0;
        return Objects.equals(l, r);
    }

    private static BigDecimal num(Number n) {
        return n instanceof BigInteger b ? new BigDecimal(b) : n instanceof Double d ? BigDecimal.valueOf(d) : BigDecimal.valueOf(n.longValue());
    }

    private static Object arith(char op, Object l, Object r) {
        if (op == '+' && l instanceof String a && r instanceof String b) return a + b;
        if (l instanceof Long a && r instanceof Long b) {
            return switch (op) {
                case '+' -> Math.addExact(a, b);
                case '-' -> Math.subtractExact(a, b);
                default -> Math.multiplyExact(a, b);
            };
        }
        if (l instanceof Number a && r instanceof Number b) {
            double x = a.doubleValue(), y = b.doubleValue();
            return op == '+' ? x + y : op == '-' ? x - y : x * y;
        }
        throw new TemplateError(400, "Template Syntax Error: cannot compute " + describe(l) + " " + op + " " + describe(r));
    }

    private static String describe(Object v) {
        if (v instanceof Undefined) return "an undefined parameter";
        if (v == null) return "None";
        return v instanceof String s ? "'" + abbreviate(s) + "'" : String.valueOf(v);
    }

    private static Object call(Call call, Ctx c) {
        String fn = call.fn();
        Map<String, Object> kw = new LinkedHashMap<>();
        for (Map.Entry<String, Expr> e : call.kwargs().entrySet()) kw.put(e.getKey(), plain(eval(e.getValue(), c)));
        if (TYPE_FUNCTIONS.contains(fn)) return typed(call, c, kw);
        switch (fn) {
            case "defined":
                return c.defined(((Name) call.args().get(0)).n());
            case "len": {
                Object v = plain(eval(call.args().get(0), c));
                if (v instanceof String s) return (long) s.length();
                if (v instanceof List<?> l) return (long) l.size();
                return 0L;
            }
            case "error": {
                Object msg = call.args().isEmpty() ? kw.get("message") : plain(eval(call.args().get(0), c));
                Object code = call.args().size() > 1 ? plain(eval(call.args().get(1), c)) : kw.getOrDefault("code", 400L);
                int status = code instanceof Number n ? n.intValue() : 400;
                throw new TemplateError(status, String.valueOf(msg));
            }
            case "column":
            case "columns": {
                String name = ((Name) call.args().get(0)).n();
                List<String> given = c.given(name);
                Object def = call.args().size() > 1 ? plain(eval(call.args().get(1), c)) : kw.get("default");
                String v = given != null ? given.get(0) : def == null ? null : String.valueOf(def);
                if (v == null) throw new TemplateError(400, "Template Syntax Error: the parameter '" + name + "' is required by " + fn + "()");
                List<String> out = new ArrayList<>();
                for (String col : fn.equals("column") ? List.of(v.strip()) : List.of(v.split(","))) {
                    String s = col.strip();
                    if (!s.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                        throw new TemplateError(400, "Template Syntax Error: '" + abbreviate(s) + "' is not a column name (parameter '" + name + "')");
                    }
                    out.add(ident(s));
                }
                return new Raw(String.join(", ", out));
            }
            default:
                throw new IllegalStateException(fn);
        }
    }

    /** A type function: the request's value (or the default) checked and turned into a literal. */
    private static Object typed(Call call, Ctx c, Map<String, Object> kw) {
        String fn = call.fn();
        String name = ((Name) call.args().get(0)).n();
        int defIdx = fn.equals("Array") ? 2 : 1;
        Object def = call.args().size() > defIdx ? plain(eval(call.args().get(defIdx), c)) : kw.get("default");
        boolean required = truthy(kw.get("required"));
        String type = fn.equals("Array") ? (String) ((Lit) call.args().get(1)).v() : fn;
        if (c.vars.containsKey(name)) { // {% set x = ... %} then String(x): the set value is the value
            Object v = plain(c.vars.get(name));
            if (!(v instanceof Undefined)) return convert(fn, type, name, v instanceof List<?> l ? l.stream().map(String::valueOf).toList() : List.of(String.valueOf(v)));
        }
        List<String> given = c.given(name);
        if (given == null) {
            if (required) throw new TemplateError(400, "[Error] Missing columns: '" + name + "' while processing query: the parameter '" + name + "' is required");
            if (def == null) return Undefined.VALUE;
            List<String> d = def instanceof List<?> l ? l.stream().map(String::valueOf).toList()
                    : fn.equals("Array") ? List.of(String.valueOf(def)) : List.of(def instanceof Boolean b ? b.toString() : String.valueOf(def));
            return convert(fn, type, name, d);
        }
        return convert(fn, type, name, given);
    }

    private static final Pattern DATE = Pattern.compile("(\\d{4}-\\d{2}-\\d{2})");
    private static final Pattern DATETIME = Pattern.compile(
            "(\\d{4}-\\d{2}-\\d{2})(?:[ T](\\d{2}:\\d{2}(?::\\d{2})?)(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?");
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

    private static Object convert(String fn, String type, String name, List<String> values) {
        if (fn.equals("Array")) {
            List<String> items = new ArrayList<>();
            for (String v : values) for (String x : v.split(",")) if (!x.isBlank()) items.add(x.strip());
            List<Object> vals = new ArrayList<>();
            List<String> lits = new ArrayList<>();
            for (String x : items) {
                Typed t = scalar(type, name, x);
                vals.add(t.value());
                lits.add(t.literal());
            }
            return new Typed(vals, "[" + String.join(", ", lits) + "]");
        }
        if (values.size() > 1) throw invalid(String.join(",", values), fn, name);
        return scalar(type, name, values.get(0));
    }

    private static TemplateError invalid(String v, String type, String name) {
        return new TemplateError(400, "Template Syntax Error: Error validating '" + abbreviate(v) + "' to type " + type + " for parameter '" + name + "'");
    }

    private static Typed scalar(String type, String name, String raw) {
        String v = raw.strip();
        if (type.equals("String")) return new Typed(raw, quote(raw));
        if (INT_TYPES.contains(type)) {
            if (!v.matches("[+-]?\\d+")) throw invalid(raw, type, name);
            BigInteger n = new BigInteger(v.startsWith("+") ? v.substring(1) : v);
            int bits = Integer.parseInt(type.replaceAll("\\D", ""));
            boolean unsigned = type.startsWith("U");
            BigInteger min = unsigned ? BigInteger.ZERO : BigInteger.ONE.shiftLeft(bits - 1).negate();
            BigInteger max = unsigned ? BigInteger.ONE.shiftLeft(bits).subtract(BigInteger.ONE) : BigInteger.ONE.shiftLeft(bits - 1).subtract(BigInteger.ONE);
            if (n.compareTo(min) < 0 || n.compareTo(max) > 0) throw invalid(raw, type, name);
            Object value = n.bitLength() < 64 ? (Object) n.longValue() : n;
            return new Typed(value, n.toString());
        }
        switch (type) {
            case "Float32", "Float64" -> {
                double d;
                try {
                    d = Double.parseDouble(v);
                } catch (NumberFormatException e) {
                    throw invalid(raw, type, name);
                }
                if (!Double.isFinite(d) || !v.matches("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?")) throw invalid(raw, type, name);
                return new Typed(d, BigDecimal.valueOf(d).toPlainString());
            }
            case "Boolean" -> {
                String l = v.toLowerCase(java.util.Locale.ROOT);
                boolean b;
                if (l.equals("true") || l.equals("1")) b = true;
                else if (l.equals("false") || l.equals("0")) b = false;
                else throw invalid(raw, type, name);
                return new Typed(b, b ? "1" : "0");
            }
            case "Date" -> {
                if (!DATE.matcher(v).matches()) throw invalid(raw, type, name);
                try {
                    LocalDate d = LocalDate.parse(v);
                    return new Typed(d.toString(), quote(d.toString()));
                } catch (java.time.DateTimeException e) {
                    throw invalid(raw, type, name);
                }
            }
            case "DateTime", "DateTime64" -> {
                Matcher m = DATETIME.matcher(v);
                if (!m.matches()) throw invalid(raw, type, name);
                try {
                    String time = m.group(2) == null ? "00:00:00" : m.group(2).length() == 5 ? m.group(2) + ":00" : m.group(2);
                    LocalDateTime t = LocalDateTime.parse(m.group(1) + "T" + time);
                    String frac = m.group(3) == null ? "" : m.group(3);
                    if (m.group(4) != null) {
                        String off = m.group(4).equals("Z") ? "Z" : m.group(4).length() == 5 ? m.group(4).substring(0, 3) + ":" + m.group(4).substring(3) : m.group(4);
                        t = OffsetDateTime.of(t, ZoneOffset.of(off)).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
                    }
                    String text = t.format(SECONDS) + (type.equals("DateTime64") ? frac : "");
                    return new Typed(text, quote(text));
                } catch (java.time.DateTimeException e) {
                    throw invalid(raw, type, name);
                }
            }
            default -> throw new TemplateError(400, "Template Syntax Error: unknown type " + type + " for parameter '" + name + "'");
        }
    }

    /** What {{ value }} writes: a typed value's literal, else the value as a literal of its own kind. */
    private static String literal(Object v, Expr e) {
        if (v instanceof Typed t) return t.literal();
        if (v instanceof Raw r) return r.sql();
        if (v instanceof Undefined) {
            String n = e instanceof Name nm ? nm.n() : e instanceof Call c && !c.args().isEmpty() && c.args().get(0) instanceof Name nm ? nm.n() : "?";
            throw new TemplateError(400, "[Error] Missing columns: '" + n + "' while processing query: the parameter '" + n + "' is required");
        }
        if (v == null) return "NULL";
        if (v instanceof Boolean b) return b ? "1" : "0";
        if (v instanceof Long || v instanceof BigInteger) return v.toString();
        if (v instanceof Double d) return BigDecimal.valueOf(d).toPlainString();
        if (v instanceof List<?> l) {
            StringBuilder b = new StringBuilder("[");
            for (Object x : l) b.append(b.length() > 1 ? ", " : "").append(literal(x, e));
            return b.append(']').toString();
        }
        return quote(String.valueOf(v));
    }

    // ------------------------------------------------------------------ declared parameters

    private static void collectParams(List<Part> ps, Map<String, Param> m) {
        for (Part p : ps) {
            switch (p) {
                case Text t -> { }
                case Out o -> collectParams(o.e(), m);
                case Set s -> collectParams(s.e(), m);
                case If f -> {
                    f.conds().forEach(c -> collectParams(c, m));
                    f.bodies().forEach(b -> collectParams(b, m));
                    collectParams(f.otherwise(), m);
                }
            }
        }
    }

    private static void collectParams(Expr e, Map<String, Param> m) {
        switch (e) {
            case Call c -> {
                c.args().forEach(a -> collectParams(a, m));
                c.kwargs().values().forEach(a -> collectParams(a, m));
                if (!TYPE_FUNCTIONS.contains(c.fn())) return;
                String name = ((Name) c.args().get(0)).n();
                int defIdx = c.fn().equals("Array") ? 2 : 1;
                Object def = c.args().size() > defIdx && c.args().get(defIdx) instanceof Lit l ? l.v()
                        : c.kwargs().get("default") instanceof Lit l ? l.v() : null;
                Object desc = c.kwargs().get("description") instanceof Lit l ? l.v() : null;
                boolean req = c.kwargs().get("required") instanceof Lit l && Boolean.TRUE.equals(l.v());
                String type = c.fn().equals("Array") ? "Array(" + ((Lit) c.args().get(1)).v() + ")" : c.fn();
                Param old = m.get(name);
                if (old == null) m.put(name, new Param(name, type, def, desc == null ? null : desc.toString(), req));
                else m.put(name, new Param(name, old.type(), old.defaultValue() != null ? old.defaultValue() : def,
                        old.description() != null ? old.description() : desc == null ? null : desc.toString(), old.required() || req));
            }
            case Not n -> collectParams(n.e(), m);
            case Bool b -> {
                collectParams(b.l(), m);
                collectParams(b.r(), m);
            }
            case Cmp c -> {
                collectParams(c.l(), m);
                collectParams(c.r(), m);
            }
            case Arith a -> {
                collectParams(a.l(), m);
                collectParams(a.r(), m);
            }
            case Neg n -> collectParams(n.e(), m);
            case ListExpr l -> l.items().forEach(x -> collectParams(x, m));
            case Lit l -> { }
            case Name n -> { }
        }
    }

    static String abbreviate(String s) {
        return s.length() <= 100 ? s : s.substring(0, 100) + "...";
    }
}
