package dev.pgmemo.cache.analysis;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A relation name as PostgreSQL resolves it: unquoted parts folded to lower case, quoted parts
 * kept exactly. {@code schema} is null when the name was not qualified (the proxy resolves it
 * through the session's search_path).
 */
public record TableName(String schema, String name) {

    public TableName {
        Objects.requireNonNull(name, "name");
    }

    /** An unqualified name, already folded. */
    public static TableName of(String name) {
        return new TableName(null, name);
    }

    /** A qualified name, already folded; {@code schema} may be null. */
    public static TableName of(String schema, String name) {
        return new TableName(schema, name);
    }

    /**
     * Parses a name as written in SQL, e.g. {@code Users}, {@code public.users},
     * {@code "Sales"."Orders"} (a leading database part is dropped).
     *
     * @throws IllegalArgumentException if the text is not a (qualified) identifier
     */
    public static TableName parse(String sql) {
        List<String> parts = new ArrayList<>();
        boolean expectName = true;
        for (SqlLexer.Token token : SqlLexer.tokenize(sql)) {
            if (expectName && (token.type() == SqlLexer.TokenType.IDENTIFIER
                    || token.type() == SqlLexer.TokenType.QUOTED_IDENTIFIER)) {
                parts.add(token.value());
                expectName = false;
            } else if (!expectName && token.isSymbol(".")) {
                expectName = true;
            } else {
                throw new IllegalArgumentException("not a table name: " + sql);
            }
        }
        if (parts.isEmpty() || expectName) {
            throw new IllegalArgumentException("not a table name: " + sql);
        }
        String name = parts.get(parts.size() - 1);
        String schema = parts.size() > 1 ? parts.get(parts.size() - 2) : null;
        return new TableName(schema, name);
    }

    /**
     * True for relations in {@code pg_catalog}, {@code information_schema}, any other
     * {@code pg_*} schema ({@code pg_temp}, {@code pg_toast}), and unqualified {@code pg_*} names.
     */
    public boolean isSystem() {
        if (schema == null) {
            return name.startsWith("pg_");
        }
        return schema.startsWith("pg_") || schema.equals("information_schema");
    }

    /** {@code schema.name} or {@code name}, parts quoted where SQL would need quotes. */
    @Override
    public String toString() {
        return schema == null ? quoteIfNeeded(name) : quoteIfNeeded(schema) + "." + quoteIfNeeded(name);
    }

    private static String quoteIfNeeded(String part) {
        boolean plain = !part.isEmpty() && (part.charAt(0) == '_' || (part.charAt(0) >= 'a' && part.charAt(0) <= 'z'));
        for (int i = 0; plain && i < part.length(); i++) {
            char c = part.charAt(i);
            plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
        }
        return plain ? part : '"' + part.replace("\"", "\"\"") + '"';
    }
}
