package dev.pgmemo.cache.policy;

import dev.pgmemo.config.CacheConfig;
import dev.pgmemo.config.Rule;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Applies the operator's rules to a cacheable query: the first rule whose every condition holds decides
 * whether and for how long the result is cached; a query no rule matches gets {@code default_ttl}
 * (zero = not cached). Immutable; a reload builds a new policy.
 */
public final class CachePolicy {

    /** What the rules say about one query. {@code rule} is the matching rule's index, or -1 for the default. */
    public record Decision(boolean cache, Duration ttl, int rule) {
    }

    /** Tables whose match against a rule's patterns is remembered per rule, before that memo starts over. */
    static final int MAX_REMEMBERED_TABLES = 4096;

    private final Duration defaultTtl;
    private final Decision defaultDecision;
    private final List<CompiledRule> rules;

    /**
     * A rule ready to match: its decision made once, and whether each table seen is covered by its table
     * patterns remembered (the answer depends on the name alone, and the same few tables come back with
     * every query: no splitting and regex matching per query).
     */
    private record CompiledRule(Rule rule, List<TablePattern> tables, String queryFingerprint, Pattern pattern,
                                Decision decision, ConcurrentHashMap<String, Boolean> covered) {
        boolean covers(String table) {
            Boolean known = covered.get(table);
            if (known == null) {
                known = tables.stream().anyMatch(p -> p.matches(table));
                if (covered.size() >= MAX_REMEMBERED_TABLES) {
                    covered.clear();
                }
                covered.put(table, known);
            }
            return known;
        }
    }

    /**
     * @param fingerprinter turns a rule's {@code query} into the same normalized form the analyzer gives queries
     */
    public CachePolicy(CacheConfig cache, List<Rule> rules, Function<String, String> fingerprinter) {
        this.defaultTtl = cache.defaultTtl();
        this.defaultDecision = new Decision(!defaultTtl.isZero(), defaultTtl, -1);
        List<CompiledRule> compiled = new ArrayList<>();
        for (Rule r : rules) {
            List<TablePattern> tables = r.match().tables().stream().map(TablePattern::parse).toList();
            String fp = r.match().query() == null ? null : fingerprinter.apply(r.match().query());
            Duration ttl = r.ttlOr(defaultTtl);
            Decision decision = new Decision(r.cache() && !ttl.isZero(), ttl, r.index());
            compiled.add(new CompiledRule(r, tables, fp, r.match().pattern(), decision, new ConcurrentHashMap<>()));
        }
        this.rules = List.copyOf(compiled);
    }

    /**
     * @param tables      the relations the query reads, schema-qualified ("public.users") where known
     * @param fingerprint the query's normalized form
     * @param sql         the query text as sent
     */
    public Decision decide(Collection<String> tables, String fingerprint, String sql) {
        for (CompiledRule r : rules) {
            if (matches(r, tables, fingerprint, sql)) {
                return r.decision();
            }
        }
        return defaultDecision;
    }

    private static boolean matches(CompiledRule r, Collection<String> tables, String fingerprint, String sql) {
        if (!r.tables().isEmpty()) {
            // Every table the query reads must be covered: a rule for `config` must not give its long TTL
            // to a join of config with a fast-changing table.
            if (tables.isEmpty()) {
                return false;
            }
            for (String t : tables) {
                if (!r.covers(t)) {
                    return false;
                }
            }
        }
        if (r.queryFingerprint() != null && !r.queryFingerprint().equals(fingerprint)) {
            return false;
        }
        return r.pattern() == null || r.pattern().matcher(sql).find();
    }

    /**
     * A table pattern from a rule: {@code users} matches a table named users in any schema,
     * {@code public.users} only that one; {@code *} matches any run of characters. Unquoted names compare
     * case-insensitively (PostgreSQL folds them to lower case), quoted ones exactly.
     */
    record TablePattern(Pattern schema, Pattern name) {
        static TablePattern parse(String text) {
            List<String> parts = splitQualified(text.trim());
            if (parts.size() == 1) {
                return new TablePattern(null, glob(parts.get(0)));
            }
            return new TablePattern(glob(parts.get(0)), glob(parts.get(1)));
        }

        boolean matches(String qualified) {
            List<String> parts = splitQualified(qualified);
            String tableName = parts.get(parts.size() - 1);
            String tableSchema = parts.size() > 1 ? parts.get(0) : null;
            if (!name.matcher(tableName).matches()) {
                return false;
            }
            return schema == null || (tableSchema != null && schema.matcher(tableSchema).matches());
        }

        private static Pattern glob(String part) {
            boolean quoted = part.length() >= 2 && part.startsWith("\"") && part.endsWith("\"");
            String body = quoted ? part.substring(1, part.length() - 1).replace("\"\"", "\"") : part.toLowerCase(Locale.ROOT);
            StringBuilder re = new StringBuilder();
            for (String piece : body.split("\\*", -1)) {
                if (re.length() > 0 || body.startsWith("*")) {
                    re.append(".*");
                }
                re.append(Pattern.quote(piece));
            }
            if (body.equals("*")) {
                return Pattern.compile(".*");
            }
            return Pattern.compile(re.toString().replace("\\Q\\E", ""));
        }

        /** Splits on dots outside double quotes. */
        static List<String> splitQualified(String s) {
            List<String> out = new ArrayList<>();
            StringBuilder cur = new StringBuilder();
            boolean inQuote = false;
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '"') {
                    inQuote = !inQuote;
                }
                if (c == '.' && !inQuote) {
                    out.add(cur.toString());
                    cur.setLength(0);
                } else {
                    cur.append(c);
                }
            }
            out.add(cur.toString());
            return out;
        }
    }
}
