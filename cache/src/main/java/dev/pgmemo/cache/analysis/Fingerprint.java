package dev.pgmemo.cache.analysis;

import dev.pgmemo.cache.analysis.SqlLexer.TokenType;

/**
 * Normalized form of a SQL text: the key of the analysis memo and the form that config rules
 * match against.
 *
 * <p>Literals (strings of every kind, numbers) and {@code $n} parameters become {@code ?};
 * comments are dropped; unquoted identifiers and keywords are lower-cased the way PostgreSQL
 * folds them, quoted identifiers are kept as written; tokens are re-spaced canonically (one
 * space between tokens, none inside {@code f(x)}, {@code a.b}, {@code x::int}, {@code [i]},
 * before {@code ,}), so the original whitespace does not matter; empty statements and a
 * trailing {@code ;} are dropped. {@code IN (1, 2, 3)} stays a list of three placeholders.
 *
 * <p>Two texts with the same fingerprint differ only in literal values, comments, whitespace
 * and the case of unquoted words, so they read and write the same relations and call the same
 * functions: the verdict of one is the verdict of the other.
 */
public final class Fingerprint {

    /** Words after which {@code (} is not a call and keeps a space: {@code IN (?, ?)}. */
    private static final String[] SPACED_BEFORE_PAREN = {
        "all", "and", "any", "as", "between", "by", "conflict", "cube", "distinct", "do", "else",
        "except", "exists", "filter", "from", "group", "groups", "having", "ilike", "in", "intersect",
        "into", "is", "join", "lateral", "like", "limit", "materialized", "not", "offset", "on",
        "only", "or", "order", "over", "partition", "range", "recursive", "repeatable", "returning",
        "rollup", "rows", "select", "set", "sets", "similar", "some", "table", "tablesample", "then",
        "union", "using", "values", "when", "where", "window", "with", "within"
    };

    private Fingerprint() {
    }

    /** The normalized form of {@code sql}. */
    public static String of(String sql) {
        return scan(sql).fingerprint();
    }

    /**
     * Result of the single pass: the fingerprint, how many non-empty statements the text holds,
     * and the first word of the first statement (lower-cased identifier, or the first symbol).
     */
    record Scan(String fingerprint, int statements, String firstWord, boolean unterminated) {
    }

    private enum Last { NONE, WORD, QUOTED, PLACEHOLDER, OPEN, GLUE, OTHER }

    static Scan scan(String sql) {
        SqlLexer lexer = new SqlLexer(sql);
        SqlLexer.StatementBoundaries boundaries = new SqlLexer.StatementBoundaries();
        StringBuilder out = new StringBuilder(sql.length() + 16);
        Last last = Last.NONE;
        int lastWordStart = 0;
        int statements = 0;
        boolean inStatement = false;
        boolean pendingSemicolon = false;
        String firstWord = null;

        while (lexer.next()) {
            if (boundaries.isSeparator(lexer)) {
                if (inStatement) {
                    pendingSemicolon = true;
                    inStatement = false;
                }
                continue;
            }
            if (!inStatement) {
                inStatement = true;
                statements++;
                if (statements == 1) {
                    firstWord = lexer.type() == TokenType.IDENTIFIER ? lexer.value() : lexer.text();
                }
            }
            if (pendingSemicolon) {
                out.append(';');
                last = Last.OTHER;
                pendingSemicolon = false;
            }
            TokenType type = lexer.type();
            switch (type) {
                case IDENTIFIER -> {
                    space(out, last);
                    lastWordStart = out.length();
                    out.append(sql, lexer.start(), lexer.end());
                    if (lexer.hasUpperCase()) {
                        for (int i = lastWordStart; i < out.length(); i++) {
                            char c = out.charAt(i);
                            if (c >= 'A' && c <= 'Z') {
                                out.setCharAt(i, (char) (c + ('a' - 'A')));
                            }
                        }
                    }
                    last = Last.WORD;
                }
                case QUOTED_IDENTIFIER -> {
                    space(out, last);
                    out.append(sql, lexer.start(), lexer.end());
                    last = Last.QUOTED;
                }
                case STRING, NUMBER, PARAMETER -> {
                    space(out, last);
                    out.append('?');
                    last = Last.PLACEHOLDER;
                }
                case OPERATOR -> {
                    space(out, last);
                    out.append(sql, lexer.start(), lexer.end());
                    last = Last.OTHER;
                }
                case PUNCTUATION -> last = punctuation(lexer, out, last, lastWordStart);
                default -> throw new IllegalStateException(type.name());
            }
        }
        return new Scan(out.toString(), statements, firstWord, lexer.sawUnterminated());
    }

    private static Last punctuation(SqlLexer lexer, StringBuilder out, Last last, int lastWordStart) {
        char c = lexer.firstChar();
        if (lexer.length() == 2) { // "::"
            out.append("::");
            return Last.GLUE;
        }
        switch (c) {
            case '(' -> {
                if (!(last == Last.QUOTED || (last == Last.WORD && !spacedKeyword(out, lastWordStart)))) {
                    space(out, last);
                }
                out.append('(');
                return Last.OPEN;
            }
            case '[' -> {
                out.append('[');
                return Last.OPEN;
            }
            case ')', ']', ',', ';' -> {
                out.append(c);
                return Last.OTHER;
            }
            case '.' -> {
                out.append('.');
                return Last.GLUE;
            }
            default -> {
                space(out, last);
                out.append(c);
                return Last.OTHER;
            }
        }
    }

    private static void space(StringBuilder out, Last last) {
        if (last != Last.NONE && last != Last.OPEN && last != Last.GLUE) {
            out.append(' ');
        }
    }

    private static boolean spacedKeyword(StringBuilder out, int from) {
        int length = out.length() - from;
        for (String keyword : SPACED_BEFORE_PAREN) {
            if (keyword.length() == length && keyword.charAt(0) == out.charAt(from)) {
                boolean same = true;
                for (int i = 1; i < length; i++) {
                    if (keyword.charAt(i) != out.charAt(from + i)) {
                        same = false;
                        break;
                    }
                }
                if (same) {
                    return true;
                }
            }
        }
        return false;
    }
}
