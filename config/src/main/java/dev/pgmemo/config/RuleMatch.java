package dev.pgmemo.config;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What a {@link Rule} applies to; every condition given must hold.
 *
 * @param tables  table names or globs as written in the file ({@code users}, {@code public.users},
 *                {@code app.*}, {@code *_log}); every table the query reads must match one of them; may be empty
 * @param query   a query in normalized form ({@code SELECT * FROM users WHERE id = ?}); nullable
 * @param pattern a regular expression searched in the query text as sent; nullable
 */
public record RuleMatch(List<String> tables, String query, Pattern pattern) {
    public RuleMatch {
        tables = tables == null ? List.of() : List.copyOf(tables);
        if (tables.isEmpty() && query == null && pattern == null) {
            throw new IllegalArgumentException("a rule match needs tables, query or pattern");
        }
    }

    /** Compares patterns by source and flags, since {@link Pattern} has identity equality. */
    @Override
    public boolean equals(Object o) {
        return o instanceof RuleMatch other
                && tables.equals(other.tables)
                && Objects.equals(query, other.query)
                && Objects.equals(patternKey(pattern), patternKey(other.pattern));
    }

    @Override
    public int hashCode() {
        return Objects.hash(tables, query, patternKey(pattern));
    }

    private static String patternKey(Pattern p) {
        return p == null ? null : p.flags() + "/" + p.pattern();
    }
}
